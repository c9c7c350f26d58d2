"""Campaigns: festivals, registration, coupons and subsidies (issue 18; docs/campaigns.md)."""
