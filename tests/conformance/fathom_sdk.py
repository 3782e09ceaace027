"""Drives Fathom's official Python SDK against Debrief's Fathom simulator, and verifies one of the
simulator's webhook deliveries with the reference Standard Webhooks library. Where the SDK rejects a
simulator answer, the simulator is wrong.

Usage: fathom_sdk.py PATH_TO_DEBRIEF_BINARY
"""

import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer

from fathom_python import Fathom, errors, models
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

KEY = "demo-key-alice"
failures = []


def check(name, condition, detail=""):
    print(("PASS " if condition else "FAIL ") + name + (f": {detail}" if detail and not condition else ""))
    if not condition:
        failures.append(name)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Receiver(BaseHTTPRequestHandler):
    received = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        Receiver.received.append((dict(self.headers.items()), body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def wait_until_up(url, deadline=30):
    end = time.time() + deadline
    while time.time() < end:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"simulator did not start at {url}")


def main(binary):
    port = free_port()
    sim = subprocess.Popen([binary, "sim", "fathom", "--port", str(port)], stdout=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_up(base + "/__sim/webhooks")
        run(base)
    finally:
        sim.terminate()
        sim.wait(timeout=10)


def run(base):
    api = base + "/external/v1"
    fathom = Fathom(security=models.Security(api_key_auth=KEY), server_url=api)

    # Meetings with content, across pages, through the SDK's own pagination.
    page = fathom.list_meetings(include_transcript=True, include_summary=True, include_action_items=True)
    pages, meetings = 0, []
    while page is not None and pages < 3:
        pages += 1
        meetings.extend(page.result.items)
        page = page.next()
    check("list_meetings follows next_cursor across pages", pages >= 2, f"{pages} page(s)")
    check("pages hold 10 meetings each", len(meetings) == 10 * pages, f"{len(meetings)} in {pages} pages")
    first = meetings[0]
    check("transcript items are typed", bool(first.transcript) and first.transcript[0].speaker.display_name
          and len(first.transcript[0].timestamp) == 8)
    check("summary markdown is present", bool(first.default_summary and first.default_summary.markdown_formatted))
    check("action items are present", first.action_items is not None)
    check("recording ids are integers", all(isinstance(m.recording_id, int) for m in meetings))

    # A wrong key is the SDK's 401.
    wrong = Fathom(security=models.Security(api_key_auth="wrong-key"), server_url=api)
    try:
        wrong.list_meetings()
        check("a wrong key is refused", False, "no error raised")
    except errors.FathomError as e:
        check("a wrong key is refused with 401", e.status_code == 401, str(e.status_code))

    # A webhook to a receiver here, then a recorded meeting delivered to it.
    receiver = HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    destination = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
    hook = fathom.create_webhook(
        destination_url=destination,
        triggered_for=[
            "my_recordings",
            "shared_external_recordings",
            "my_shared_with_team_recordings",
            "shared_team_recordings",
        ],
        include_transcript=True,
        include_summary=True,
        include_action_items=True,
    )
    check("create_webhook returns an id", bool(hook.id))
    check("create_webhook returns a whsec_ secret", hook.secret.startswith("whsec_"))
    check("create_webhook echoes the destination", hook.url == destination)

    request = urllib.request.Request(
        base + "/__sim/meetings",
        data=json.dumps({"api_key": KEY}).encode(),
        headers={"content-type": "application/json"},
        method="POST",
    )
    urllib.request.urlopen(request, timeout=10)
    end = time.time() + 15
    while not Receiver.received and time.time() < end:
        time.sleep(0.05)
    check("the recorded meeting is delivered", bool(Receiver.received))
    if Receiver.received:
        headers, body = Receiver.received[0]
        headers = {k.lower(): v for k, v in headers.items()}
        try:
            payload = Webhook(hook.secret).verify(body, headers)
            check("standardwebhooks verifies the delivery", True)
            check("the body is a bare Meeting", isinstance(payload.get("recording_id"), int) and "transcript" in payload)
        except WebhookVerificationError as e:
            check("standardwebhooks verifies the delivery", False, str(e))
        try:
            Webhook(hook.secret).verify(body + b" ", headers)
            check("a tampered body fails verification", False)
        except WebhookVerificationError:
            check("a tampered body fails verification", True)

    fathom.delete_webhook(id=hook.id)
    check("delete_webhook succeeds", True)
    try:
        fathom.delete_webhook(id=hook.id)
        check("deleting again is a 404", False, "no error raised")
    except errors.FathomError as e:
        check("deleting again is a 404", e.status_code == 404, str(e.status_code))
    receiver.shutdown()


if __name__ == "__main__":
    main(sys.argv[1])
    if failures:
        print(f"{len(failures)} conformance check(s) failed")
        sys.exit(1)
    print("Fathom SDK conformance: all checks passed")
