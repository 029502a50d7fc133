"""Source keys: format, hashing under the server secret, constant-time matching, revocation flag."""

from __future__ import annotations

from services.ingest.keys import HASH_SCHEME, StoredKey, hash_key, key_id_of, matches

KEY = "sp_0123456789abcdef_" + "A" * 43


def test_key_id_is_read_from_a_well_formed_key_only() -> None:
    assert key_id_of(KEY) == "0123456789abcdef"
    for bad in (
        "",
        "sp_0123456789abcdef",
        "sk_0123456789abcdef_" + "A" * 43,
        "sp_XYZ_" + "A" * 43,
        KEY + " ",
        "sp_0123456789abcdef_short",
    ):
        assert key_id_of(bad) is None, bad


def test_the_hash_depends_on_the_server_secret_and_never_contains_the_key() -> None:
    stored = hash_key("secret-one", KEY)
    assert stored.startswith(f"{HASH_SCHEME}:")
    assert len(stored) == len(HASH_SCHEME) + 1 + 64
    assert stored != hash_key("secret-two", KEY)
    assert KEY not in stored
    assert "A" * 10 not in stored


def test_matches_only_the_same_key_and_only_while_active() -> None:
    stored = StoredKey(
        "0123456789abcdef", "utbildningsforvaltningen", hash_key("s", KEY), revoked=False
    )
    assert matches("s", KEY, stored)
    assert not matches("s", KEY[:-1] + "B", stored)
    assert not matches("other-secret", KEY, stored)
    assert not matches(
        "s", KEY, StoredKey(stored.key_id, stored.source, stored.key_hash, revoked=True)
    )
