"""lifecycle_util.py - helpers of test_lifecycle.py on top of fngate_it: admin keys, direct
admin API calls (http.client, fast enough for bursts), gateway checks of many tokens, reload."""

import hashlib
import http.client
import json
import secrets
import signal
import time


def new_admin_key():
    """(key, config fragment {"sha256": ...}), as `fngate admin-key create` makes them."""
    key = "fngk_" + secrets.token_urlsafe(32)
    return key, {"sha256": hashlib.sha256(key.encode()).hexdigest()}


def admin_request(port, method, path, key=None, body=None, timeout=10):
    """One admin API call: (status, parsed JSON or None); status 0 when the daemon did not
    answer (killed mid-request)."""
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        headers = {}
        data = None
        if key is not None:
            headers["Authorization"] = "Bearer " + key
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        c.request(method, path, body=data, headers=headers)
        r = c.getresponse()
        raw = r.read()
        c.close()
        try:
            return r.status, json.loads(raw) if raw else None
        except ValueError:
            return r.status, None
    except (OSError, http.client.HTTPException):
        return 0, None


def gateway_statuses(port, path, tokens):
    """{id: (status, error code or None)} for GET path with each token, on one connection."""
    out = {}
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for tid, tok in tokens.items():
        for attempt in range(2):
            try:
                c.request("GET", path, headers={"X-Auth-Token": tok})
                r = c.getresponse()
                raw = r.read()
                break
            except (OSError, http.client.HTTPException):
                c.close()
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                if attempt:
                    raise
        err = None
        if r.status != 200:
            try:
                err = json.loads(raw).get("error")
            except ValueError:
                pass
        out[tid] = (r.status, err)
    c.close()
    return out


def reload(env, gw, conf, settle=1.0):
    """Rewrite the configuration file and SIGHUP the daemon; wait for it to apply."""
    env.write_config(conf, gw.conf_path.rsplit("/", 1)[1])
    gw.proc.signal(signal.SIGHUP)
    time.sleep(settle)
