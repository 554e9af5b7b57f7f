from core.redact import MASK, NOTHING, Redactor


def test_every_form_of_a_secret_is_masked() -> None:
    redact = Redactor({"token": "s3cr3t/+key=", "password": "hunter22", "pin": "42",
                       "empty": ""}, user="ana")
    text = ("GET https://api.example.com/v1?api_key=s3cr3t%2F%2Bkey%3D failed; "
            "q=s3cr3t%2F%2Bkey%3D; raw s3cr3t/+key= and hunter22; "
            "Authorization: Basic YW5hOmh1bnRlcjIy; pin 42")
    masked = redact(text)
    assert masked == (f"GET https://api.example.com/v1?api_key={MASK} failed; q={MASK}; "
                      f"raw {MASK} and {MASK}; Authorization: Basic {MASK}; pin 42")


def test_nothing_to_mask_leaves_text_alone() -> None:
    assert NOTHING("a plain error") == "a plain error"
    assert Redactor({"a": "longsecret"})(None) is None
