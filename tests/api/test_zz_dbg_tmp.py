from tests.api.test_oracles import *
def test_dbg(world):
    theirs = _order(world, "other_buyer", "o-4", paid=True)
    r = world.client.post(f"{API}/orders/{theirs['id']}/after-sales", json={"kind": "refund_only", "reason": "changed_mind"}, headers=world.as_("other_buyer"))
    print(r.status_code, r.text, theirs)
