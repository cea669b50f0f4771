"""notification-service's push credentials, mounted from Secrets the operator creates
(``secretFiles``): nothing without them, read-only files with mode 0400 and secretKeyRef env
with them, the variables the service's settings read, and no key material in values or in
the rendered manifests."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from support.charts import (
    by_name,
    chart_values,
    helm_template,
    load_docs,
    render_notes,
    settings_class,
)

pytestmark = pytest.mark.chart
SERVICE = "notification-service"
SECRETS = [
    f"{SERVICE}.secretFiles.fcm.existingSecret=deepiri-fcm-credentials",
    f"{SERVICE}.secretFiles.apns.existingSecret=deepiri-apns-credentials",
]


def pod(sets: list[str]) -> tuple[dict[str, Any], str]:
    text = helm_template(["values-kind.yaml"], sets=sets).stdout
    deployment = by_name(load_docs(text), "Deployment")[SERVICE]
    return deployment["spec"]["template"]["spec"], text


def test_no_secret_no_mount_and_no_push_settings() -> None:
    spec, _ = pod([])
    container = spec["containers"][0]
    assert [v["name"] for v in spec["volumes"] if "secret" in v] == []
    assert not [m for m in container["volumeMounts"] if m["name"].startswith("secret-")]
    assert not [e for e in container["env"] if e["name"].startswith(("FCM_", "APNS_"))]


def test_push_keys_are_mounted_read_only_from_the_operators_secrets() -> None:
    spec, _ = pod(SECRETS)
    container = spec["containers"][0]
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["secret-fcm"]["secret"] == {
        "secretName": "deepiri-fcm-credentials",
        "defaultMode": 0o400,
        "items": [{"key": "service-account.json", "path": "service-account.json"}],
    }
    assert volumes["secret-apns"]["secret"] == {
        "secretName": "deepiri-apns-credentials",
        "defaultMode": 0o400,
        "items": [{"key": "key.p8", "path": "key.p8"}],
    }
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    for name in ("fcm", "apns"):
        assert mounts[f"secret-{name}"] == {
            "name": f"secret-{name}",
            "mountPath": f"/var/run/secrets/deepiri/{name}",
            "readOnly": True,
        }
    # The app's user reads them through the pod's fsGroup, on a read-only root filesystem.
    assert spec["securityContext"]["fsGroup"] == spec["securityContext"]["runAsUser"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    env = {e["name"]: e for e in container["env"]}
    assert env["FCM_KEY_FILE"]["value"] == "/var/run/secrets/deepiri/fcm/service-account.json"
    assert env["APNS_KEY_FILE"]["value"] == "/var/run/secrets/deepiri/apns/key.p8"
    for var, key in (
        ("APNS_KEY_ID", "key-id"),
        ("APNS_TEAM_ID", "team-id"),
        ("APNS_TOPIC", "topic"),
    ):
        assert env[var]["valueFrom"] == {
            "secretKeyRef": {"name": "deepiri-apns-credentials", "key": key}
        }
    # Every variable is one the service's settings read.
    fields = {f.name for f in dataclasses.fields(settings_class(SERVICE))}
    pushed = {e for e in env if e.startswith(("FCM_", "APNS_"))}
    assert pushed == {"FCM_KEY_FILE", "APNS_KEY_FILE", "APNS_KEY_ID", "APNS_TEAM_ID", "APNS_TOPIC"}
    assert {e.lower() for e in pushed} <= fields
    # Only that service gets them.
    others = [
        d
        for name, d in by_name(load_docs(helm_template(sets=SECRETS).stdout), "Deployment").items()
        if name != SERVICE
    ]
    assert not any(
        v["name"].startswith("secret-")
        for d in others
        for v in d["spec"]["template"]["spec"]["volumes"]
    )


def test_no_key_material_is_rendered_or_defaulted() -> None:
    _, text = pod(SECRETS)
    docs = load_docs(text)
    assert not [n for n in by_name(docs, "Secret") if "fcm" in n or "apns" in n]
    assert "BEGIN" not in text
    assert "private_key" not in text
    # The defaults name no Secret: push stays off until the operator creates one.
    files = chart_values()[SERVICE]["secretFiles"]
    assert {name: f["existingSecret"] for name, f in files.items()} == {"fcm": "", "apns": ""}


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        # A key pasted into values has nowhere to go.
        (f"{SERVICE}.secretFiles.apns.key=-----BEGIN", "additional properties 'key' not allowed"),
        (f"{SERVICE}.secretFiles.fcm.files.FCM_KEY_FILE=../etc/passwd", "does not match pattern"),
        (f"{SERVICE}.secretFiles.Bad_Name.existingSecret=x", "does not match pattern"),
        (f"{SERVICE}.secretFiles.fcm.existingSecret=Not A Name", "does not match pattern"),
    ],
)
def test_the_schema_refuses_inline_keys_and_paths(flag: str, message: str) -> None:
    proc = helm_template(sets=[flag], check=False)
    assert proc.returncode != 0, f"--set {flag} was accepted"
    assert message in proc.stderr, proc.stderr


def test_notes_say_when_push_is_off(tmp_path: Path) -> None:
    assert "Push notifications are off" in render_notes(tmp_path / "off")
    assert "Push notifications are off" not in render_notes(tmp_path / "on", sets=SECRETS)
