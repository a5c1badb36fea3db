import base64
import hashlib

import pytest
from click.testing import CliRunner

from nmmstrial.cli import cli
from nmmstrial.conduct import authenticate, hash_password, new_user, password_matches
from nmmstrial.errors import AccessError, InvalidValueError


def test_password_is_stored_as_salted_scrypt_only():
    one, two = hash_password("correct horse"), hash_password("correct horse")
    assert one != two  # a fresh salt each time
    assert "correct horse" not in one
    assert one.startswith("scrypt$16384$8$1$")
    assert password_matches(one, "correct horse")
    assert not password_matches(one, "correct hors")
    # Independent check of the stored digest with hashlib's scrypt.
    _, n, r, p, salt, digest = one.split("$")
    want = hashlib.scrypt(
        b"correct horse",
        salt=base64.b64decode(salt),
        n=int(n),
        r=int(r),
        p=int(p),
        maxmem=2**26,
    )
    assert base64.b64decode(digest) == want


def test_login_failure_says_the_same_for_unknown_user_and_wrong_password():
    records = {"ana": new_user("ana", "assessor", "pw")}
    assert authenticate(records, "ana", "pw").role == "assessor"
    with pytest.raises(AccessError) as wrong:
        authenticate(records, "ana", "nope")
    with pytest.raises(AccessError) as unknown:
        authenticate(records, "bob", "pw")
    assert str(wrong.value) == str(unknown.value)


def test_bad_role_and_name_are_refused():
    with pytest.raises(InvalidValueError, match="role 'nurse' is not one of statistician"):
        new_user("ana", "nurse", "pw")
    with pytest.raises(InvalidValueError, match="no spaces"):
        new_user("ana maria", "lab", "pw")


def test_init_and_user_add_through_the_cli(tmp_path):
    db = tmp_path / "trial.db"
    runner = CliRunner()
    env = {"NMMSTRIAL_PASSWORD": "adminpw", "NMMSTRIAL_NEW_PASSWORD": "labpw"}
    result = runner.invoke(cli, ["conduct", "init", str(db), "--user", "boss"], env=env)
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli, ["conduct", "init", str(db), "--user", "boss"], env=env)
    assert result.exit_code == 1 and "already exists" in result.output
    add = ["conduct", "user-add", str(db), "--user", "boss", "--name", "lab1", "--role", "lab"]
    assert runner.invoke(cli, add, env=env).exit_code == 0
    # The lab user cannot add users; the trail records both additions and verifies.
    lab_env = {"NMMSTRIAL_PASSWORD": "labpw", "NMMSTRIAL_NEW_PASSWORD": "x"}
    refused = ["conduct", "user-add", str(db), "--user", "lab1", "--name", "x", "--role", "lab"]
    result = runner.invoke(cli, refused, env=lab_env)
    assert result.exit_code == 1 and "lab1 (lab) may not add users" in result.output
    result = runner.invoke(cli, ["audit", "verify", str(db), "--user", "lab1"], env=lab_env)
    assert result.exit_code == 0, result.output
    assert "2 records" in result.output


def test_no_password_and_no_terminal_is_an_error_not_a_hang(tmp_path):
    db = tmp_path / "trial.db"
    no_password = {"NMMSTRIAL_PASSWORD": ""}
    result = CliRunner().invoke(
        cli, ["conduct", "init", str(db), "--user", "boss"], env=no_password
    )
    assert result.exit_code == 1
    assert "set NMMSTRIAL_PASSWORD" in result.output
    assert not db.exists()
