"""A first look: the Clever Cloud root lists what SPEC section 3 names."""
import os


def test_root_lists_the_tree(clever):
    assert sorted(os.listdir(clever.path)) == ["orgs", "self.json", "zones"]
