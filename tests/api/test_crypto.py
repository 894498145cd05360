"""pixell.crypto: purpose-separated encryption at rest with key rotation."""

import pytest

from pixell.crypto import DecryptionError, decrypt, encrypt


def test_round_trip_and_purpose_separation(settings):
    settings.PIXELL_SECRETS_KEY = None
    token = encrypt("value", purpose="one")
    assert "value" not in token and decrypt(token, purpose="one") == "value"
    with pytest.raises(DecryptionError):
        decrypt(token, purpose="two")  # a ciphertext of one kind is not readable as another


def test_unset_key_falls_back_to_secret_key(settings):
    settings.PIXELL_SECRETS_KEY = None
    token = encrypt("value", purpose="p")
    settings.SECRET_KEY = "another-secret-key-0123456789-abcdefghijklmnop"
    with pytest.raises(DecryptionError):
        decrypt(token, purpose="p")


def test_garbage_token_is_a_decryption_error(settings):
    with pytest.raises(DecryptionError):
        decrypt("not-a-token", purpose="p")
