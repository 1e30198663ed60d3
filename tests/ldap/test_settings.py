"""The IDP_LDAP_* settings: presets, overrides, and refusals that stop the start-up."""

from __future__ import annotations

import logging

import pytest

from idp import config, sources
from idp.config import ConfigError
from idp.sources.ldap_settings import LdapSettings, normalize_dn

BASE = {"LDAP_USER_BASE": "ou=people,dc=bantenprov,dc=go,dc=id"}


def load(tmp_path, **settings):
    return sources.resolve_settings(config.load({"INSTANCE_DIR": str(tmp_path), **settings}, environ={}))


def test_ldap_is_off_by_default(tmp_path):
    assert load(tmp_path)["LDAP"] is None


def test_openldap_preset(tmp_path):
    s: LdapSettings = load(tmp_path, LDAP_URLS=["ldaps://ldap.bantenprov.go.id"], **BASE)["LDAP"]
    assert s.attrs["id"] == "entryUUID" and s.attrs["username"] == "uid" and s.attrs["groups"] == "memberOf"
    assert s.user_filter == "(&(objectClass=inetOrgPerson)(uid={username}))"
    assert s.everyone_filter == "(&(objectClass=inetOrgPerson)(uid=*))"
    assert not s.nested_groups
    assert "pwdAccountLockedTime" in s.fetch_attributes and "pwdReset" in s.fetch_attributes


def test_active_directory_preset_and_overrides(tmp_path):
    s = load(tmp_path, LDAP_URLS=["ldaps://dc1.bantenprov.go.id", "ldaps://dc2.bantenprov.go.id:636"],
             LDAP_PRESET="activedirectory", LDAP_ATTR_USERNAME="userPrincipalName",
             LDAP_USER_FILTER="(&(objectClass=user)(userPrincipalName={username}))", **BASE)["LDAP"]
    assert s.attrs["id"] == "objectGUID" and s.attrs["username"] == "userPrincipalName"
    assert s.attrs["unit"] == "department" and s.nested_groups
    assert "userAccountControl" in s.fetch_attributes
    assert s.urls == ("ldaps://dc1.bantenprov.go.id", "ldaps://dc2.bantenprov.go.id:636")


def test_nested_groups_can_be_turned_off(tmp_path):
    s = load(tmp_path, LDAP_URLS=["ldaps://dc1"], LDAP_PRESET="activedirectory", LDAP_NESTED_GROUPS="false",
             **BASE)["LDAP"]
    assert not s.nested_groups


def test_group_roles_are_parsed(tmp_path):
    s = load(tmp_path, LDAP_URLS=["ldaps://h"], **BASE,
             LDAP_GROUP_ROLES="cn=idp-admins,ou=groups,dc=x=admin; CN=Staff, OU=Groups, DC=x = staff ;")["LDAP"]
    assert s.group_roles == (("cn=idp-admins,ou=groups,dc=x", "admin"), ("cn=staff,ou=groups,dc=x", "staff"))


def test_plaintext_is_allowed_only_on_request_with_a_warning(tmp_path, caplog):
    with pytest.raises(ConfigError, match="in clear"):
        load(tmp_path, LDAP_URLS=["ldap://ldap.bantenprov.go.id"], **BASE)
    assert load(tmp_path, LDAP_URLS=["ldap://ldap.bantenprov.go.id"], LDAP_START_TLS=True, **BASE)["LDAP"]
    with caplog.at_level(logging.WARNING):
        assert load(tmp_path, LDAP_URLS=["ldap://ldap.bantenprov.go.id"], LDAP_ALLOW_PLAINTEXT=True, **BASE)["LDAP"]
    assert "INSECURE" in caplog.text and "IN CLEAR" in caplog.text


def test_settings_from_the_environment(tmp_path):
    cfg = sources.resolve_settings(config.load({"INSTANCE_DIR": str(tmp_path)}, environ={
        "IDP_LDAP_URLS": "ldaps://a.example, ldaps://b.example", "IDP_LDAP_USER_BASE": BASE["LDAP_USER_BASE"],
        "IDP_LDAP_BIND_DN": "cn=idp,ou=services,dc=x", "IDP_LDAP_BIND_PASSWORD": "s3cret",
        "IDP_LDAP_RECEIVE_TIMEOUT": "7", "IDP_LDAP_DISABLED_VALUES": "disabled, nonaktif"}))
    s = cfg["LDAP"]
    assert s.urls == ("ldaps://a.example", "ldaps://b.example") and s.receive_timeout == 7
    assert s.disabled_values == {"disabled", "nonaktif"}
    assert "s3cret" not in repr(s)  # the password is kept out of reprs and logs


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"LDAP_URLS": ["http://ldap.example"]}, "IDP_LDAP_URLS"),
        ({"LDAP_URLS": ["ldaps://"]}, "IDP_LDAP_URLS"),
        ({"LDAP_URLS": ["ldaps://host/dc=x"]}, "IDP_LDAP_URLS"),
        ({"LDAP_URLS": ["ldaps://user:pw@host"]}, "IDP_LDAP_URLS"),
        ({"LDAP_URLS": ["ldaps://host:99999"]}, "IDP_LDAP_URLS"),
        ({"LDAP_URLS": ["ldaps://host"], "LDAP_USER_BASE": ""}, "IDP_LDAP_USER_BASE"),
        ({"LDAP_URLS": ["ldaps://host"], "LDAP_USER_BASE": "not a dn"}, "IDP_LDAP_USER_BASE"),
        ({"LDAP_URLS": ["ldaps://host"], "LDAP_BIND_DN": "cn=idp,dc=x"}, "IDP_LDAP_BIND_PASSWORD"),
        ({"LDAP_URLS": ["ldaps://host"], "LDAP_USER_FILTER": "(uid=*)"}, "IDP_LDAP_USER_FILTER"),
        ({"LDAP_URLS": ["ldaps://host"], "LDAP_USER_FILTER": "uid={username}"}, "IDP_LDAP_USER_FILTER"),
        ({"LDAP_URLS": ["ldaps://host"], "LDAP_USER_FILTER": "(&(uid={username})"}, "IDP_LDAP_USER_FILTER"),
        ({"LDAP_URLS": ["ldaps://host"], "LDAP_GROUP_ROLES": "cn=admins=admin role"}, "IDP_LDAP_GROUP_ROLES"),
        ({"LDAP_URLS": ["ldaps://host"], "LDAP_GROUP_ROLES": "admin"}, "IDP_LDAP_GROUP_ROLES"),
        ({"LDAP_URLS": ["ldaps://host"], "LDAP_GROUP_ROLES": "=admin"}, "IDP_LDAP_GROUP_ROLES"),
        ({"LDAP_URLS": ["ldaps://host"], "LDAP_ATTR_ID": "entry UUID"}, "IDP_LDAP_ATTR_ID"),
        ({"LDAP_URLS": ["ldaps://host"], "LDAP_ATTR_NIP": "(employeeNumber)"}, "IDP_LDAP_ATTR_NIP"),
        ({"LDAP_URLS": ["ldaps://host"], "LDAP_CA_FILE": "/nonexistent/ca.pem"}, "IDP_LDAP_CA_FILE"),
        ({"LDAP_URLS": ["ldaps://host"], "LDAP_PRESET": "novell"}, "IDP_LDAP_PRESET"),
        ({"LDAP_URLS": ["ldaps://host"], "LDAP_RECEIVE_TIMEOUT": 0}, "IDP_LDAP_RECEIVE_TIMEOUT"),
        ({"LDAP_URLS": ["ldaps://host"], "LDAP_NESTED_GROUPS": "maybe"}, "IDP_LDAP_NESTED_GROUPS"),
    ],
)
def test_bad_settings_stop_the_start(tmp_path, settings, message):
    values = {**BASE, **settings}
    with pytest.raises(ConfigError, match=message):
        sources.resolve_settings(config.load({"INSTANCE_DIR": str(tmp_path)}, environ={
            f"IDP_{k}": ",".join(v) if isinstance(v, list) else str(v) for k, v in values.items()}))


def test_config_reference_documents_the_ldap_settings():
    text = config.reference_markdown()
    for name in ("LDAP_URLS", "LDAP_PRESET", "LDAP_BIND_PASSWORD", "LDAP_GROUP_ROLES", "LDAP_ATTR_NIK"):
        assert f"`IDP_{name}`" in text


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("cn=idp-admins,ou=groups,dc=x", "CN=IDP-Admins, OU=Groups, DC=x"),
        ("uid=budi,ou=people,dc=x", "UID=budi ,ou=People,dc=X"),
    ],
)
def test_dn_normalization(a, b):
    assert normalize_dn(a) == normalize_dn(b)
