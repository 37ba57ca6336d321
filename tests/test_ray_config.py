"""`ray-config` and the `serve --ray` flags: what a cluster operator gets, without starting Ray.

Fast (no Ray instance, no model): the YAML is parsed back and, where Ray is installed,
validated by Serve's own config schema, the one `serve deploy` applies.
"""

from __future__ import annotations

import argparse

import pytest
import yaml

from inpaint_conformance.harness.cli import build_parser
from inpaint_conformance.harness.commands import ray_config
from inpaint_conformance.harness.commands.serve_ray import settings_from_args
from inpaint_conformance.reference_impl.ray_settings import (
    ENGINE_DEPLOYMENT,
    FRONT_DEPLOYMENT,
    INGRESS_DEPLOYMENT,
    RaySettings,
    SettingsError,
)

pytestmark = pytest.mark.cluster


def _ray_config(capsys, *flags: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="inpaint-conformance ray-config")
    ray_config.add_arguments(parser)
    code = ray_config.run(parser.parse_args(list(flags)))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _deployments(config: dict) -> dict[str, dict]:
    (application,) = config["applications"]
    return {d["name"]: d for d in application["deployments"]}


def _validate_with_serve(config: dict) -> None:
    schema = pytest.importorskip("ray.serve.schema", reason="needs the 'cluster' extra to check Serve's schema")
    model = schema.ServeDeploySchema
    # Ray built on pydantic 2 has model_validate; older Ray keeps pydantic 1's parse_obj.
    (getattr(model, "model_validate", None) or model.parse_obj)(config)


def test_ray_config_prints_a_serve_config_for_n_gpu_replicas(capsys):
    code, out, _ = _ray_config(
        capsys,
        "--model",
        "/models/sd-inpaint",
        "--replicas",
        "4",
        "--max-batch",
        "8",
        "--steps",
        "25",
        "--port",
        "9000",
    )
    assert code == 0
    config = yaml.safe_load(out)
    _validate_with_serve(config)
    (application,) = config["applications"]
    assert application["import_path"] == "inpaint_conformance.reference_impl.ray_app:build_app"
    assert application["args"]["model"] == "/models/sd-inpaint" and application["args"]["steps"] == 25
    engine = _deployments(config)[ENGINE_DEPLOYMENT]
    assert engine["num_replicas"] == 4
    assert engine["ray_actor_options"]["num_gpus"] == 1.0
    assert engine["max_ongoing_requests"] >= 8  # room for a full batch
    assert _deployments(config)[INGRESS_DEPLOYMENT]["num_replicas"] == 1
    assert config["http_options"] == {"host": "0.0.0.0", "port": 9000}
    # The builder reads its args back into the same settings.
    assert RaySettings.from_args(application["args"]).replicas == 4
    assert out.startswith("# Ray Serve config")


def test_ray_config_autoscale_uses_serve_autoscaling_on_queued_requests(capsys):
    code, out, _ = _ray_config(capsys, "--autoscale", "1:6", "--gpus-per-replica", "0.5")
    assert code == 0
    config = yaml.safe_load(out)
    _validate_with_serve(config)
    engine = _deployments(config)[ENGINE_DEPLOYMENT]
    assert "num_replicas" not in engine
    scaling = engine["autoscaling_config"]
    assert (scaling["min_replicas"], scaling["max_replicas"]) == (1, 6)
    assert scaling["target_ongoing_requests"] == 4  # a full batch queued per replica
    assert engine["ray_actor_options"]["num_gpus"] == 0.5


def test_ray_config_never_writes_keys_or_tokens_and_can_write_a_file(capsys, tmp_path):
    target = tmp_path / "serve.yaml"
    code, out, err = _ray_config(capsys, "--output", str(target))
    assert code == 0 and out == "" and f"serve deploy {target}" in err
    args = yaml.safe_load(target.read_text())["applications"][0]["args"]
    assert "api_keys" not in args and "admin_token" not in args
    assert args["loopback_only"] is False  # 0.0.0.0: admin calls need the token


@pytest.mark.parametrize(
    "flags, expected",
    [
        (("--replicas", "0"), "replicas must be >= 1"),
        (("--autoscale", "4:1"), "autoscale MIN:MAX needs 0 <= MIN <= MAX"),
        (("--autoscale", "two"), "--autoscale expects MIN:MAX"),
        (("--max-batch", "0"), "max batch must be >= 1"),
        (("--gpus-per-replica", "-1"), "GPUs per replica must be >= 0"),
    ],
)
def test_ray_config_refuses_bad_settings_in_one_line(capsys, flags, expected):
    code, out, err = _ray_config(capsys, *flags)
    assert code == 2 and out == ""
    assert expected in err and "Traceback" not in err


def _serve_args(*flags: str) -> argparse.Namespace:
    """The flags as `serve` hands them to Ray: parsed, then the engine resolved (--model picks reference)."""
    from inpaint_conformance.harness.commands.serve import resolve_engine

    args = build_parser().parse_args(["serve", *flags])
    resolve_engine(args)
    return args


def test_serve_ray_flags_become_settings(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings, address = settings_from_args(
        _serve_args(
            "--ray",
            "--engine",
            "reference",
            "--model",
            "tiny-random",
            "--replicas",
            "3",
            "--max-batch",
            "2",
            "--api-key",
            "k=60",
            "--db",
            "ledger.db",
            "--ait-failure-status",
            "4xx",
        )
    )
    assert address is None  # --ray alone: a local Ray instance
    assert (settings.replicas, settings.max_batch, settings.api_keys) == (3, 2, [("k", 60)])
    assert settings.db == str(tmp_path / "ledger.db")  # the ingress replica runs elsewhere: an absolute path
    assert settings.ait_failure_status == 400
    _, address = settings_from_args(_serve_args("--ray", "10.0.0.5:6379", "--autoscale", "0:8"))
    assert address == "10.0.0.5:6379"


@pytest.mark.parametrize(
    "flags, expected",
    [
        (("--ray", "--workers", "2"), "--workers does not apply with --ray"),
        (("--ray", "--autoscale", "8"), "--autoscale expects MIN:MAX"),
        (("--ray", "--replicas", "0"), "replicas must be >= 1"),
        (("--ray", "--api-key", "k", "--api-key", "k"), "given twice"),
    ],
)
def test_serve_ray_refuses_bad_flags(flags, expected):
    with pytest.raises(SettingsError, match=expected):
        settings_from_args(_serve_args(*flags))


def test_settings_round_trip_and_unknown_args_are_named():
    settings = RaySettings(model="m", autoscale=(1, 3), api_keys=[("k", None)])
    assert RaySettings.from_args(settings.to_args()) == settings
    with pytest.raises(SettingsError, match="unknown setting.*replica_count"):
        RaySettings.from_args({"replica_count": 2})


@pytest.mark.parametrize(
    "resources, asked, expected",
    [
        ({"CPU": 16.0, "GPU": 4.0}, {"replicas": 4}, (1.0, 1.0)),  # one GPU each where GPUs exist
        ({"CPU": 2.0}, {"replicas": 2}, (0.0, 0.875)),  # CPU only: an equal share of the cores
        ({"CPU": 16.0, "GPU": 1.0}, {"replicas": 2, "gpus_per_replica": 0.5}, (0.5, 1.0)),
        ({"CPU": 16.0, "GPU": 8.0}, {"autoscale": (2, 16)}, (1.0, 1.0)),  # autoscaling starts at MIN
    ],
)
def test_replicas_get_one_gpu_each_where_there_are_gpus(monkeypatch, resources, asked, expected):
    ray = pytest.importorskip("ray")
    from inpaint_conformance.reference_impl import ray_runtime

    monkeypatch.setattr(ray, "cluster_resources", lambda: resources)
    monkeypatch.setattr(ray_runtime._state, "started_ray", True)
    fitted = ray_runtime.fit_resources(RaySettings(**asked))
    assert (fitted.gpus_per_replica, fitted.cpus_per_replica) == expected


def test_a_local_ray_refuses_replicas_it_could_never_schedule(monkeypatch):
    ray = pytest.importorskip("ray")
    from inpaint_conformance.reference_impl import ray_runtime

    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 16.0, "GPU": 2.0})
    monkeypatch.setattr(ray_runtime._state, "started_ray", True)
    with pytest.raises(ray_runtime.RayDeployError, match="4 engine replica.*need 4 GPUs; the cluster has 2"):
        ray_runtime.fit_resources(RaySettings(replicas=4))
    monkeypatch.setattr(ray_runtime._state, "started_ray", False)  # a cluster may grow: allowed
    assert ray_runtime.fit_resources(RaySettings(replicas=4)).gpus_per_replica == 1.0


def test_a_replica_that_cannot_start_is_reported_as_its_error_not_a_traceback():
    from inpaint_conformance.reference_impl.ray_runtime import _condensed

    serve_says = (
        "The deployment failed to start 3 times in a row. See controller logs for details. Error:\n"
        '  File "/site/ray/serve/_private/replica.py", line 1928, in initialize\n'
        "    raise RuntimeError(traceback.format_exc()) from None\n"
        "RuntimeError: Traceback (most recent call last):\n"
        '  File "/work/reference_impl/loading.py", line 90, in load_engine\n'
        "ValueError: model '/nope' looks like a folder path but no such folder exists\n"
    )
    line = _condensed(serve_says)
    assert "\n" not in line and "File " not in line
    assert line.startswith("The deployment failed to start 3 times in a row")
    assert "ValueError: model '/nope' looks like a folder path but no such folder exists" in line
    assert _condensed("Deployment is healthy.") == "Deployment is healthy."


def test_ray_config_for_many_nodes_has_ingress_replicas_a_front_door_and_no_password(capsys):
    code, out, _ = _ray_config(
        capsys,
        "--ingress-replicas",
        "3",
        "--max-replicas-per-node",
        "2",
        "--db",
        "postgresql://fake@db.internal:5432/inpaint",
    )
    assert code == 0
    config = yaml.safe_load(out)
    _validate_with_serve(config)
    deployments = _deployments(config)
    assert deployments[INGRESS_DEPLOYMENT]["num_replicas"] == 3
    assert deployments[INGRESS_DEPLOYMENT]["max_replicas_per_node"] == 2
    assert deployments[ENGINE_DEPLOYMENT]["max_replicas_per_node"] == 2
    front = deployments[FRONT_DEPLOYMENT]
    assert front["num_replicas"] == 1 and "node:__internal_head__" in front["ray_actor_options"]["resources"]
    assert config["applications"][0]["args"]["db"] == "postgresql://fake@db.internal:5432/inpaint"
    assert "PGPASSWORD" in out  # the header says where the password goes


@pytest.mark.parametrize(
    "flags, expected",
    [
        (("--ingress-replicas", "2"), "2 ingress replicas need a store they all share: give --db postgresql://"),
        (("--ingress-replicas", "2", "--db", "/data/ledger.db"), "a SQLite file or the in-memory ledger"),
        (("--ingress-replicas", "0"), "ingress replicas must be >= 1"),
        (("--db", "postgresql://fake:hunter2@db/inpaint"), "holds a password"),
    ],
)
def test_ray_config_refuses_ingress_replicas_without_a_shared_store_and_passwords(capsys, flags, expected):
    code, out, err = _ray_config(capsys, *flags)
    assert code == 2 and out == "" and expected in err
    assert "hunter2" not in err and "Traceback" not in err


def test_serve_ray_passes_a_postgres_url_as_given_and_refuses_ingress_replicas_without_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    url = "postgresql://fake@db.internal/inpaint"
    settings, _ = settings_from_args(_serve_args("--ray", "--ingress-replicas", "4", "--db", url))
    assert (settings.ingress_replicas, settings.db) == (4, url)
    with pytest.raises(SettingsError, match="need a store they all share"):
        settings_from_args(_serve_args("--ray", "--ingress-replicas", "2", "--db", "ledger.db"))
