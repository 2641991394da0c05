"""Small probe helpers: when an app that does not answer has settled where it cannot be reached; layer member paths."""

from dockyard.probes.diagnose import listens_elsewhere


def test_other_ports_only_or_loopback_only_is_elsewhere():
    assert listens_elsewhere([("0.0.0.0", 5000)], 8000)
    assert listens_elsewhere([("127.0.0.1", 8000)], 8000) and listens_elsewhere([("::1", 8000)], 8000)


def test_the_port_on_a_reachable_address_or_nothing_known_is_not():
    assert not listens_elsewhere([("0.0.0.0", 8000)], 8000)
    assert not listens_elsewhere([("127.0.0.1", 8000), ("::", 8000)], 8000)
    assert not listens_elsewhere([("0.0.0.0", 5000), ("0.0.0.0", 8000)], 8000)
    assert not listens_elsewhere([], 8000) and not listens_elsewhere(None, 8000)  # still starting, or unknown


def test_a_layer_members_path_keeps_its_leading_dot():
    from dockyard.probes import member_path

    assert member_path("./.env") == ".env" and member_path(".env") == ".env" and member_path("/app/.git/x") == "app/.git/x"
    assert member_path("./app/main.py") == "app/main.py" and member_path("..data") == "..data"
