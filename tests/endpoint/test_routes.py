"""The control endpoint's routes, over a real Unix socket: reads, commands, errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support import wait_until
from support.served import Failing, Hanging, Quiet, serving

from servicedeck.control import Command, ServiceSnapshot, ServiceState

pytestmark = pytest.mark.anyio


async def test_services_lists_every_snapshot_as_the_protocol_has_it(short_dir: Path) -> None:
    async with serving([Quiet, Failing], short_dir) as served:
        await wait_until(
            served.controller, lambda: served.controller.snapshot("Failing").status.error_count > 0
        )

        response = await served.client.get("/v1/services")

        assert response.status_code == 200
        body = response.json()
        assert [s["name"] for s in body["services"]] == ["Quiet", "Failing"]
        assert body["process"] == served.controller.process.to_json()
        assert body["epoch"] == served.controller.epoch
        assert served.controller.epoch <= body["now"] <= served.controller.now()
        failing = ServiceSnapshot.from_json(body["services"][1])
        assert failing == served.controller.snapshot("Failing")
        assert failing.status.last_error is not None
        assert "bad record" in failing.status.last_error.traceback


async def test_service_has_its_logs_and_its_errors_with_tracebacks(short_dir: Path) -> None:
    async with serving([Quiet, Failing], short_dir) as served:
        await served.controller.step("Quiet", 2)

        quiet = (await served.client.get("/v1/services/Quiet")).json()
        failing = (await served.client.get("/v1/services/Failing")).json()

        assert [line["message"] for line in quiet["logs"]][-2:] == ["loop 2", "loop 3"]
        assert quiet["service"]["status"]["loop_count"] == 3
        error = failing["service"]["status"]["recent_errors"][-1]
        assert error["type_name"] == "ValueError"
        assert 'raise ValueError("bad record [bold]42[/bold]")' in error["traceback"]


@pytest.mark.parametrize(
    ("command", "body", "expected"),
    [
        ("pause", None, lambda old, new: new.status.paused),
        ("step", {"loops": 3}, lambda old, new: new.status.loop_count == 4),
        ("stop", {"block": True, "timeout": 5}, lambda old, new: not new.has_task),
        ("set-enabled", {"enabled": False}, lambda old, new: new.enabled is False),
        ("pause-on-error", {"on": True}, lambda old, new: new.pause_on_error),
        ("set-log-level", {"level": 10}, lambda old, new: new.log_level == 10),
        ("restart", None, lambda old, new: new.has_task and not new.stuck),
    ],
)
async def test_command_is_applied_and_answers_with_the_snapshot_after_it(
    short_dir: Path, command: str, body: dict[str, object] | None, expected: Any
) -> None:
    async with serving([Quiet], short_dir) as served:
        await wait_until(
            served.controller, lambda: served.controller.snapshot("Quiet").status.loop_count == 1
        )

        started = served.controller.snapshot("Quiet").status.started_at

        response = await served.client.post(f"/v1/services/Quiet/{command}", json=body)

        assert response.status_code == 200, response.text
        assert expected(started, ServiceSnapshot.from_json(response.json()["service"]))


async def test_start_resume_and_kill_each_do_what_they_say(short_dir: Path) -> None:
    async with serving([Quiet, Hanging], short_dir, start=False) as served:
        controller, client = served.controller, served.client

        assert (await client.post("/v1/services/Quiet/pause")).status_code == 200
        await wait_until(
            controller, lambda: controller.snapshot("Quiet").status.state is ServiceState.PAUSED
        )
        assert (await client.post("/v1/services/Quiet/resume")).status_code == 200
        assert not controller.snapshot("Quiet").status.paused
        assert (await client.post("/v1/services/Hanging/start")).status_code == 200
        await wait_until(
            controller, lambda: controller.snapshot("Hanging").status.state is ServiceState.RUNNING
        )
        stop = await client.post("/v1/services/Hanging/stop", json={"timeout": 0.2})
        assert stop.json()["stopped"] is False  # it hangs: marked stuck
        assert (await client.post("/v1/services/Hanging/kill")).status_code == 200
        await wait_until(controller, lambda: not controller.snapshot("Hanging").has_task)


async def test_restart_stops_the_service_and_starts_it_again(short_dir: Path) -> None:
    async with serving([Quiet], short_dir) as served:
        controller = served.controller
        await wait_until(controller, lambda: controller.snapshot("Quiet").status.loop_count == 1)
        first = controller.snapshot("Quiet").status.started_at
        assert first is not None

        assert (await served.client.post("/v1/services/Quiet/restart")).status_code == 200
        await wait_until(controller, lambda: controller.snapshot("Quiet").status.loop_count == 2)

        assert controller.snapshot("Quiet").status.started_at > first


async def test_where_shows_the_await_stack_of_a_hung_loop(short_dir: Path) -> None:
    async with serving([Hanging, Quiet], short_dir) as served:
        controller = served.controller
        await wait_until(
            controller, lambda: controller.snapshot("Hanging").status.state is ServiceState.RUNNING
        )
        await controller.stop("Quiet")

        hung = (await served.client.get("/v1/services/Hanging/where")).json()
        idle = (await served.client.get("/v1/services/Quiet/where")).json()

        assert hung["stack"]["service"] == "Hanging"
        assert any("sleep_forever" in frame["source"] for frame in hung["stack"]["frames"])
        assert idle["stack"] is None


async def test_restart_answers_what_it_did_and_cancel_steps_refuses_with_none_queued(
    short_dir: Path,
) -> None:
    async with serving([Quiet], short_dir) as served:
        restart = await served.client.post("/v1/services/Quiet/restart")
        cancel = await served.client.post("/v1/services/Quiet/cancel-steps")

        assert restart.json()["report"]["name"] == "Quiet"
        assert restart.json()["report"]["was_running"] is True
        assert cancel.status_code == 409
        assert cancel.json()["message"] == served.controller.check("Quiet", Command.CANCEL_STEPS)


async def test_start_enabled_paused_starts_loops_paused(short_dir: Path) -> None:
    async with serving([Quiet], short_dir, start=False) as served:
        answer = await served.client.post("/v1/start-enabled", json={"paused": True})
        controller = served.controller
        await wait_until(
            controller, lambda: controller.snapshot("Quiet").status.state is ServiceState.PAUSED
        )

        assert answer.json()["started"] == ["Quiet"]
        assert controller.snapshot("Quiet").status.loop_count == 0


async def test_start_enabled_and_stop_all_act_on_the_whole_set(short_dir: Path) -> None:
    async with serving([Quiet, Failing], short_dir, start=False) as served:
        started = await served.client.post("/v1/start-enabled")
        report = await served.client.post("/v1/stop-all", json={"timeout": 5})

        assert started.json()["started"] == ["Quiet", "Failing"]
        stops = report.json()["report"]["services"]
        assert sorted((stop["name"], stop["outcome"]) for stop in stops) == [
            ("Failing", "stopped"),
            ("Quiet", "stopped"),
        ]
        assert not any(s.has_task for s in served.controller.snapshots())


async def test_refused_command_is_409_with_the_reason_the_console_shows(short_dir: Path) -> None:
    async with serving([Quiet], short_dir) as served:
        reason = served.controller.check("Quiet", Command.RESUME)

        response = await served.client.post("/v1/services/Quiet/resume")

        assert reason == "Quiet is not paused"
        assert response.status_code == 409
        assert response.json() == {"error": "Conflict", "message": reason}


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "words"),
    [
        ("POST", "/v1/services/Nobody/pause", None, 404, "no service named 'Nobody'"),
        ("GET", "/v1/services/Nobody", None, 404, "known: Quiet"),
        ("POST", "/v1/services/Quiet/explode", None, 404, "unknown command 'explode'"),
        ("GET", "/v1/nothing", None, 404, "no route '/v1/nothing'"),
        ("POST", "/v1/services/Quiet/pause/", None, 404, "no route"),
        ("DELETE", "/v1/services/Quiet", None, 405, "DELETE is not allowed"),
        ("POST", "/v1/services/Quiet/step", b"{loops: 3", 422, "invalid body for step"),
        ("POST", "/v1/services/Quiet/step", b"[1, 2]", 422, "invalid body for step"),
        ("POST", "/v1/services/Quiet/step", {"loops": 0}, 422, "greater than or equal to 1"),
        ("POST", "/v1/services/Quiet/step", {"loops": -5}, 422, "(got -5)"),
        ("POST", "/v1/services/Quiet/step", {"loops": "3"}, 422, "loops"),
        ("POST", "/v1/services/Quiet/step", {"loops": True}, 422, "loops"),
        ("POST", "/v1/services/Quiet/step", {"loops": 10**12}, 422, "less than or equal"),
        ("POST", "/v1/services/Quiet/step", {"loops": 1.5}, 422, "loops"),
        ("POST", "/v1/services/Quiet/stop", {"timeout": -1}, 422, "timeout"),
        ("POST", "/v1/services/Quiet/stop", {"block": "yes"}, 422, "block"),
        ("POST", "/v1/services/Quiet/pause", {"now": True}, 422, "now: Extra inputs"),
        ("POST", "/v1/services/Quiet/set-log-level", {"level": -1}, 422, "level"),
        ("POST", "/v1/services/Quiet/set-log-level", {}, 422, "level: Field required"),
        ("POST", "/v1/services/Quiet/step", b"x" * 100_000, 413, "at most 65536"),
        # A slash, even escaped, splits the path: this asks for a command by GET.
        ("GET", "/v1/services/[bold]Quiet[%2Fbold]", None, 405, "GET is not allowed"),
        ("GET", "/v1/services/[red]Quiet", None, 404, "no service named '[red]Quiet'"),
        ("GET", "/v1/services/__import__('os').system('true')", None, 404, "no service named"),
        ("POST", "/v1/services/..%2F..%2Fetc/pause", None, 404, "no route"),
        ("GET", "/v1/events?interval=0.1", None, 422, "ask for 0.25 or more (got 0.1)"),
        ("GET", "/v1/events?interval=soon", None, 422, "interval: Input should be a valid"),
        ("GET", "/v1/events?interval=nan", None, 422, "interval: Input should be a finite"),
        ("GET", "/v1/events?interval=3600", None, 422, "less than or equal to 60"),
        ("GET", "/v1/events?every=1", None, 422, "every: Extra inputs"),
    ],
)
async def test_bad_request_gets_a_json_error_and_the_process_goes_on(
    short_dir: Path, method: str, path: str, body: object, status: int, words: str
) -> None:
    async with serving([Quiet], short_dir) as served:
        before = served.controller.snapshot("Quiet").status.loop_count
        content = body if isinstance(body, bytes) else None
        json = None if isinstance(body, bytes) else body

        response = await served.client.request(method, path, content=content, json=json)

        assert response.status_code == status, response.text
        assert response.headers["content-type"] == "application/json"
        error = response.json()
        assert set(error) == {"error", "message"}
        assert words in error["message"]
        # The process is unaffected: it answers, and the service is as it was.
        assert (await served.client.get("/v1/services")).status_code == 200
        assert served.controller.snapshot("Quiet").status.loop_count == before


async def test_readyz_is_200_when_every_enabled_service_is_healthy(short_dir: Path) -> None:
    async with serving([Quiet], short_dir) as served:
        response = await served.client.get("/readyz")

        assert response.status_code == 200
        assert response.json() == {"status": "ready", "services": 1}


async def test_readyz_is_503_with_the_failing_services_and_why(short_dir: Path) -> None:
    async with serving([Quiet, Failing], short_dir) as served:
        await wait_until(
            served.controller, lambda: served.controller.snapshot("Failing").status.error_count > 0
        )
        await served.controller.stop("Quiet")

        response = await served.client.get("/readyz")

        assert response.status_code == 503
        failing = response.json()["failing"]
        # The record's own verdict and reason, not the endpoint's.
        assert failing == [
            {"name": name, "health": snap.health.value, "reason": snap.health_reason}
            for name in ("Quiet", "Failing")
            for snap in [served.controller.snapshot(name)]
        ]
        assert [f["health"] for f in failing] == ["stopped", "failing"]
        assert all(f["reason"] for f in failing)
        assert "bad record" not in response.text  # probes carry no error text


async def test_livez_is_200_while_the_heartbeat_is_recent(short_dir: Path) -> None:
    async with serving([Quiet], short_dir) as served:
        response = await served.client.get("/livez")

        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "alive"
        assert 0 <= body["heartbeat_age"] < 5


async def test_livez_is_503_when_the_heartbeat_is_old(short_dir: Path) -> None:
    async with serving([Quiet], short_dir, stale_heartbeat=1e-9) as served:
        # Any age is "old" against a threshold of a nanosecond.
        response = await served.client.get("/livez")

        assert response.status_code == 503
        assert response.json()["status"] == "stalled"
        assert "blocked or starved" in response.json()["message"]
