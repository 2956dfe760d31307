"""Benchmark the running Space: request latency, 8 concurrent requests, the app's memory.

    python -m benchmarks.benchmark_space [--concurrent 8] [--repeats 5] [--resolution 128] [--browser 4]
    python -m benchmarks.benchmark_space --load-test 16 [--resolution 128]

Starts ``python app.py`` (the shipped car and airplane pipelines) on a free port as a child
process and drives it over HTTP with ``gradio_client``, as a user's browser would:

1. one request at a time: example image -> GLB at ``--resolution`` with the car pipeline,
   ``--repeats`` times after a warm-up; the median client-side seconds and the server's
   own stage times;
2. ``--concurrent`` requests submitted at once (examples of both categories): whether all
   complete, each one's seconds from submission, the wall time of the batch;
3. the app process's memory: resident set after start-up, and its peak (the kernel's
   VmHWM, the high-water mark of the resident set, so no sample can miss it);
4. with ``--browser N``: N clicks on examples in headless Chromium (``tests/space_browser.py``),
   timed in the page from the click until the viewer has received the GLB and until it
   draws the new mesh. Chromium renders WebGL in software here, on the same 2 CPUs as the
   app, so the second figure includes drawing costs a browser with a GPU does not have.

With ``--load-test N`` only a load test runs instead: N requests submitted at once, both
categories, a quarter of them 7000x7000 PNG uploads (a 128 px example scaled up: a 170 KB
file), a quarter photo mode on such an upload, a quarter photo mode on an example; it
reports whether all complete with a non-empty GLB, the wall time, and the app's peak
resident memory against the 1.2 GB target (issue 19).

The 1-minute load average is printed before and after: on this shared 2-core machine the
figures move with it. The Space queues requests with a concurrency limit, so the batch's
later requests wait for earlier ones.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AS_MODULE = "run it from the repository root as: python -m benchmarks.benchmark_space"


def load_examples():
    """The Space's examples; ``space`` is the checkout's, importable when run with ``python -m`` from its root."""
    try:
        from space.examples import load_examples as space_examples
    except ModuleNotFoundError:
        raise SystemExit(f"the Space benchmark needs the checkout's space/ package: {AS_MODULE}") from None
    return space_examples()


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def memory_mib(pid: int) -> dict[str, float]:
    """VmRSS (now) and VmHWM (peak) of ``pid``, MiB."""
    values = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) / 1024.0
    return values


def reset_peak_memory(pid: int) -> bool:
    """Reset ``pid``'s VmHWM to its current resident set (Linux's clear_refs), so that the next peak is a
    run's own rather than start-up's; False where the kernel does not allow it."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as refs:
            refs.write("5")
        return True
    except OSError:
        return False


def start_app(port: int, log: Path) -> subprocess.Popen:
    env = dict(os.environ, HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False")
    with open(log, "w") as out:
        process = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(port)], cwd=ROOT, env=env,
                                   stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the app exited with code {process.returncode}; see {log}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return process
        except OSError:
            time.sleep(0.5)
    process.kill()
    raise RuntimeError(f"the app did not answer on {url} within 180 s; see {log}")


def reconstruct(client, image: str, category: str, resolution: int) -> tuple[float, str]:
    from gradio_client import handle_file

    started = time.perf_counter()
    _, _, timings = client.predict(handle_file(image), category, resolution, "GLB", False, api_name="/reconstruct")
    return time.perf_counter() - started, timings


def sequential(client, resolution: int, repeats: int) -> None:
    cars = [e.path for e in load_examples() if e.category == "car"]
    reconstruct(client, cars[0], "car", resolution)  # warm-up
    seconds, timings = [], []
    for i in range(repeats):
        s, t = reconstruct(client, cars[i % len(cars)], "car", resolution)
        seconds.append(s)
        timings.append(t)
    print(f"one request at a time, car, {resolution}^3, {repeats} requests: median {statistics.median(seconds):.2f} s "
          f"(min {min(seconds):.2f}, max {max(seconds):.2f}) from gradio_client call to GLB on disk")
    print(f"  server stages of the median request: {timings[seconds.index(statistics.median_low(seconds))]}")


def concurrent(url: str, count: int, resolution: int) -> bool:
    from gradio_client import Client, handle_file

    examples = load_examples()
    picks = [examples[(i * 5) % len(examples)] for i in range(count)]  # both categories
    client = Client(url, verbose=False, analytics_enabled=False)
    started = time.perf_counter()
    jobs = [client.submit(handle_file(e.path), e.category, resolution, "GLB", False, api_name="/reconstruct")
            for e in picks]
    finished: list[float | None] = [None] * count
    errors = []

    def wait(i: int) -> None:
        try:
            viewer, _, _ = jobs[i].result(timeout=600)
            import trimesh

            if len(trimesh.load(viewer, force="mesh").faces) == 0:
                raise RuntimeError("empty mesh")
            finished[i] = time.perf_counter() - started
        except Exception as err:  # report every failure, keep waiting for the rest
            errors.append(f"request {i} ({picks[i].category}): {type(err).__name__}: {err}")

    threads = [threading.Thread(target=wait, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done = [s for s in finished if s is not None]
    print(f"{count} concurrent requests ({', '.join(sorted({e.category for e in picks}))}, {resolution}^3): "
          f"{len(done)}/{count} completed with a non-empty GLB in {time.perf_counter() - started:.2f} s wall")
    if done:
        print("  seconds from submission: " + ", ".join(f"{s:.2f}" for s in sorted(done)))
    for error in errors:
        print(f"  FAILED {error}")
    return len(done) == count


LOAD_TEST_TARGET_MIB = 1200
BIG_SIDE = 7000


def large_uploads(folder: Path) -> dict[str, str]:
    """{category: a BIG_SIDE x BIG_SIDE PNG of one of its examples}: a huge image in a small file."""
    from PIL import Image

    paths = {}
    for example in load_examples():
        if example.category not in paths:
            path = folder / f"{example.category}-{BIG_SIDE}.png"
            Image.open(example.path).convert("RGB").resize((BIG_SIDE, BIG_SIDE), Image.NEAREST).save(path, optimize=True)
            paths[example.category] = str(path)
    return paths


def load_test(url: str, count: int, resolution: int, pid: int) -> bool:
    """``count`` requests at once: both categories, 7000^2 uploads, photo mode; all complete? wall time, peak memory."""
    import tempfile

    from gradio_client import Client, handle_file

    examples = load_examples()
    with tempfile.TemporaryDirectory(prefix="latentmapper-load-test-") as folder:
        big = large_uploads(Path(folder))
        requests = []  # (image, category, photo mode, description)
        for i in range(count):
            example = examples[(i * 5) % len(examples)]
            kind = i % 4
            image = big[example.category] if kind in (0, 1) else example.path
            requests.append((image, example.category, kind in (1, 2),
                             f"{example.category}, {'7000^2 upload' if kind in (0, 1) else 'example'}"
                             f"{', photo mode' if kind in (1, 2) else ''}"))
        client = Client(url, verbose=False, analytics_enabled=False)
        before = memory_mib(pid)
        reset = reset_peak_memory(pid)
        started = time.perf_counter()
        jobs = [client.submit(handle_file(image), category, resolution, "GLB", photo, api_name="/reconstruct")
                for image, category, photo, _ in requests]
        done, errors = 0, []
        for job, (_, _, _, what) in zip(jobs, requests):
            try:
                viewer, _, _ = job.result(timeout=3600)
                import trimesh

                if len(trimesh.load(viewer, force="mesh").faces) == 0:
                    raise RuntimeError("empty mesh")
                done += 1
            except Exception as err:  # report every failure, keep waiting for the rest
                errors.append(f"{what}: {type(err).__name__}: {err}")
        wall = time.perf_counter() - started
    after = memory_mib(pid)
    kinds = sorted({what for *_, what in requests})
    print(f"load test: {count} requests at once ({'; '.join(kinds)}), {resolution}^3: {done}/{count} completed with "
          f"a non-empty GLB in {wall:.1f} s wall")
    for error in errors:
        print(f"  FAILED {error}")
    print(f"  app memory: resident {before['VmRSS']:.0f} MiB before (start-up peak {before['VmHWM']:.0f} MiB), "
          f"peak {after['VmHWM']:.0f} MiB during the test (VmHWM{'' if reset else ', start-up included'}), "
          f"{after['VmRSS']:.0f} MiB after; target peak at most {LOAD_TEST_TARGET_MIB} MiB: "
          f"{'met' if after['VmHWM'] <= LOAD_TEST_TARGET_MIB else 'NOT met'}")
    return done == count


def browser_clicks(url: str, clicks: int) -> None:
    from tests.space_browser import chromium, click_example, missing_browser, open_space

    reason = missing_browser()
    if reason:
        print(f"browser: skipped, {reason}")
        return
    with chromium() as driver:
        thumbnails = open_space(driver, url)
        cars = [i for i, e in enumerate(load_examples()) if e.category == "car"][: len(thumbnails)]
        received, shown = [], []
        for n in range(clicks):
            glb, drawn = click_example(driver, cars[1 + n % (len(cars) - 1)])  # the page opens on the first
            received.append(glb)
            shown.append(drawn)
            time.sleep(1.0)
    print(f"browser (headless Chromium, software WebGL): click on a car example, {clicks} clicks, medians: "
          f"GLB received {statistics.median(received):.2f} s, new mesh drawn in the viewer "
          f"{statistics.median(shown):.2f} s (" + ", ".join(f"{s:.2f}" for s in shown) + ")")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrent", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--resolution", type=int, default=128)
    parser.add_argument("--browser", type=int, default=0, help="clicks to time in headless Chromium (0: none)")
    parser.add_argument("--load-test", type=int, default=0, metavar="N",
                        help="instead: N requests at once with 7000x7000 uploads and photo mode; peak memory")
    parser.add_argument("--log", type=Path, default=Path("/tmp/latentmapper-space-benchmark.log"))
    args = parser.parse_args(argv)

    from gradio_client import Client

    print(f"load average (1, 5, 15 min) before: {load_average()}; {os.cpu_count()} CPUs")
    port = free_port()
    started = time.perf_counter()
    app = start_app(port, args.log)
    url = f"http://127.0.0.1:{port}"
    try:
        print(f"app up in {time.perf_counter() - started:.1f} s (both pipelines loaded); "
              f"resident {memory_mib(app.pid)['VmRSS']:.0f} MiB")
        if args.load_test:
            all_done = load_test(url, args.load_test, args.resolution, app.pid)
        else:
            client = Client(url, verbose=False, analytics_enabled=False)
            sequential(client, args.resolution, args.repeats)
            all_done = concurrent(url, args.concurrent, args.resolution)
            if args.browser:
                browser_clicks(url, args.browser)
            memory = memory_mib(app.pid)
            print(f"app memory: peak resident {memory['VmHWM']:.0f} MiB (VmHWM), now {memory['VmRSS']:.0f} MiB; "
                  f"target under 2048 MiB: {'met' if memory['VmHWM'] < 2048 else 'NOT met'}")
    finally:
        app.terminate()
        try:
            app.wait(timeout=20)
        except subprocess.TimeoutExpired:
            app.kill()
    print(f"load average after: {load_average()}")
    return 0 if all_done else 1


if __name__ == "__main__":
    raise SystemExit(main())
