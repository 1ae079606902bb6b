#!/usr/bin/env python3
"""Writes the fuzzers' seed corpora (<package>/testdata/<fuzzer>_corpus/).

Run from the repository root: python3 tools/make_fuzz_seeds.py. Needs the
zstd command for the compressed relay batches. The files are committed; run
it again only to change the seeds. Inputs the fuzzers found are kept next to
these under their own names (found-*), which this script leaves alone.
"""

import os
import struct
import subprocess


def cstring(s):
    return s + b"\0"


def element(key, value):
    """One BSON element; value is a Python value or (type_byte, bytes)."""
    k = cstring(key.encode() if isinstance(key, str) else key)
    if isinstance(value, tuple):
        return bytes([value[0]]) + k + value[1]
    if isinstance(value, bool):
        return b"\x08" + k + (b"\x01" if value else b"\x00")
    if isinstance(value, int):
        if -(2**31) <= value < 2**31:
            return b"\x10" + k + struct.pack("<i", value)
        return b"\x12" + k + struct.pack("<q", value)
    if isinstance(value, float):
        return b"\x01" + k + struct.pack("<d", value)
    if isinstance(value, (str, bytes)):
        b = value.encode() if isinstance(value, str) else value
        return b"\x02" + k + struct.pack("<i", len(b) + 1) + b + b"\0"
    if isinstance(value, dict):
        return b"\x03" + k + doc(value)
    if isinstance(value, list):
        return b"\x04" + k + doc({str(i): v for i, v in enumerate(value)})
    if value is None:
        return b"\x0a" + k
    raise TypeError(value)


def doc(fields):
    body = b"".join(element(k, v) for k, v in fields.items())
    return struct.pack("<i", len(body) + 5) + body + b"\0"


def string_bytes(b):
    return struct.pack("<i", len(b) + 1) + b + b"\0"


EVENT = doc({"type": "request", "host": "web1", "pid": 42,
             "begin": 1.7e9, "end": 1.7e9 + 0.25,
             "args": {"path": "/index", "codes": [200, 304]}})
SUB = doc({"type": "request.db", "host": "web1", "end": 1.7e9, "n": 2**40})
EXOTIC = doc({
    "type": "exotic",
    "bin": (0x05, struct.pack("<i", 3) + b"\x00abc"),
    "oid": (0x07, bytes(range(12))),
    "date": (0x09, struct.pack("<q", 1700000000123)),
    "re": (0x0B, b"a.*b\0i\0"),
    "dbp": (0x0C, string_bytes(b"coll") + bytes(12)),
    "code": (0x0D, string_bytes(b"f()")),
    "sym": (0x0E, string_bytes(b"sym")),
    "cws": (0x0F, struct.pack("<i", 4 + 8 + 12) + string_bytes(b"g()") +
            doc({"x": 1})),
    "ts": (0x11, struct.pack("<II", 2, 1)),
    "dec": (0x13, bytes(15) + b"\x30"),
    "undef": (0x06, b""),
    "min": (0xFF, b""), "max": (0x7F, b""),
    "nan": float("nan"), "inf": float("inf"), "ninf": float("-inf"),
    "null": None, "t": True, "text": "tab\there \"q\" \u00e9 \x01",
})
BAD_UTF8 = doc({"type": b"caf\xc3", "host": b"h\xff\xfe", "k": b"\xe2\x82"})
BAD_UTF8_KEY = doc({"type": "t", b"key\xff": 1})


def write(directory, name, data):
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data)


def corpus(package, fuzzer, seeds):
    for name, data in seeds.items():
        write(os.path.join(package, "testdata", fuzzer + "_corpus"), name, data)


def event_seeds():
    return {
        "valid-event": EVENT,
        "valid-sub-event": SUB,
        "valid-exotic": EXOTIC,
        "repair-utf8": BAD_UTF8,
        "repair-utf8-key": BAD_UTF8_KEY,
        "no-type": doc({"host": "h"}),
        "empty-type": doc({"type": ""}),
        "type-not-string": doc({"type": 5}),
        "truncated": EVENT[:-7],
        "length-too-big": struct.pack("<i", 1 << 30) + EVENT[4:],
        "not-bson": b"hello, world\n",
    }


def zstd(data):
    return subprocess.run(["zstd", "-q", "-c", "-3"], input=data,
                          stdout=subprocess.PIPE, check=True).stdout


def relay_header(payload_size, count, compression="none", **over):
    h = {"forwarder": "fwd-1", "token": "0123456789abcdef0123",
         "first": 10, "end": 10 + count, "acked": 9, "count": count,
         "compression": compression, "size": payload_size}
    h.update(over)
    return doc(h)


def relay_seeds():
    events = EVENT + SUB + BAD_UTF8
    packed = zstd(events)
    return {
        "valid-plain": relay_header(len(events), 3) + events,
        "valid-zstd": relay_header(len(events), 3, "zstd") + packed,
        "valid-ping": doc({"ping": True}),
        "valid-ack-reply": doc({"ack": 12, "forwarder": "fwd-1"}),
        "bad-token": relay_header(len(events), 3, token="xyz") + events,
        "bad-size": relay_header(len(events) + 1, 3) + events,
        "bad-count": relay_header(len(events), 2) + events,
        "bad-zstd": relay_header(len(events), 3, "zstd") + packed[:-4],
        "zstd-lies-about-size": relay_header(1 << 20, 3, "zstd") + packed,
        "bad-compression": relay_header(len(events), 3, "lz4") + events,
        "payload-torn": relay_header(len(events) - 3, 3) + events[:-3],
    }


def control_seeds():
    return {
        "valid-text": b"STATUS",
        "valid-text-spaces": b"  flush\n",
        "valid-cmd": doc({"cmd": "status"}),
        "valid-command-args": doc({"command": "ADVANCE_CLOCK", "seconds": 3.5,
                                   "list": [1, "a"]}),
        "cmd-not-string": doc({"cmd": 5}),
        "cmd-bad-name": doc({"cmd": "st atus"}),
        "no-cmd": doc({"x": 1}),
        "truncated": doc({"cmd": "STATUS"})[:-2],
        "garbage": b"\x00\xff\x10status",
    }


def crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def record(index, event):
    body = struct.pack("<q", index) + event
    return struct.pack("<II", len(event), crc32c(body)) + body


def segment_seeds():
    a, b, c = record(1, EVENT), record(2, SUB), record(3, b"x" * 300)
    damaged = bytearray(b)
    damaged[20] ^= 0xFF
    return {
        # The first byte picks the scanner's small read chunk.
        "valid-three": b"\x07" + a + b + c,
        "valid-empty": b"\x00",
        "damaged-middle": b"\x10" + a + bytes(damaged) + c,
        "torn-tail": b"\x3f" + a + b + c[:-10],
        "index-goes-back": b"\x05" + a + record(1, SUB) + c,
        "garbage-between": b"\x01" + a + b"\xde\xad\xbe\xef" * 5 + b,
        "huge-size": b"\x02" + struct.pack("<I", 0xFFFFFFF0) + a[4:] + b,
    }


def reader_seeds():
    return {
        "valid-file": EVENT + SUB + EXOTIC,
        "valid-one": EVENT,
        "valid-empty": b"",
        "torn-tail": EVENT + SUB[:-5],
        "garbage-between": EVENT + b"\x01\x02\x03" + SUB,
        "corrupt-length": EVENT + struct.pack("<i", 3) + SUB,
        "bad-inner": EVENT + SUB[:-1] + b"\x01" + EVENT,
    }


def type_name_seeds():
    return {
        "valid-plain": b"request",
        "valid-dotdot": b"../x",
        "valid-space": b"a b",
        "valid-escaped-stem": b"%2E.%2Fx",
        "valid-long": b"t" * 300,
        "valid-utf8": "caf\u00e9/\u65e5".encode(),
        "overflow-stem": b"~overflow",
        "bad-escape": b"x%zz",
        "lowercase-escape": b"a%2fb",
        "nul": b"a\x00b",
    }


def endpoint_seeds():
    return {
        "valid-ipv4": b"127.0.0.1:3514",
        "valid-any": b"*:0",
        "valid-ipv6": b"[::1]:3514",
        "valid-bare-ipv6": b"::1:3514",
        "valid-zmq": b"tcp://127.0.0.1:41234",
        "no-port": b"host:",
        "no-host": b":80",
        "port-too-big": b"h:99999",
        "port-sign": b"h:+80",
        "port-negative": b"h:-1",
    }


def where_seeds():
    """An expression (also tried as a --fields list), NUL, a document."""
    exprs = {
        "all-operators": b'args.codes.0 == 200 and pid != 1 and begin < 2e9 '
                         b'and end <= 1.8e9 and pid > -1 and pid >= 42.0',
        "regex-exists": b'type =~ "^req" or (exists(args.path) and '
                        b'not host =~ "(?i)WEB\\d")',
        "literals": b'text == "tab\\there \\"q\\" \\u00e9" or t == true '
                    b'or null == null or date > 1700000000',
        "fields-list": b"type,args.path,args.codes.1",
        "nested": b"((not (a == 1)) and ((b != \"x\")))",
        "bad-value": b"end >= ",
        "bad-string": b'host == "web',
    }
    docs = [EVENT, EXOTIC, SUB, EVENT[:-7]]
    return {name: expr + b"\0" + docs[i % len(docs)]
            for i, (name, expr) in enumerate(exprs.items())}


def main():
    corpus("common", "intake_fuzzer", event_seeds())
    corpus("common", "relay_protocol_fuzzer", relay_seeds())
    corpus("common", "control_request_fuzzer", control_seeds())
    corpus("forwarder", "segment_scanner_fuzzer", segment_seeds())
    corpus("client/reader", "reader_fuzzer", reader_seeds())
    corpus("client/reader", "json_fuzzer", {**event_seeds(), "many": EVENT + SUB})
    corpus("client/format", "type_name_fuzzer", type_name_seeds())
    corpus("client/net", "endpoint_fuzzer", endpoint_seeds())
    corpus("client/reader", "where_fuzzer", where_seeds())


if __name__ == "__main__":
    main()
