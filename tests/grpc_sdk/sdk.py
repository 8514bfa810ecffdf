"""Drives Apache RocketMQ's official Python SDK (PyPI rocketmq-python-client 5.1.x)
against a coremq broker's gRPC port, for tests/grpc_sdk.rs.

Usage: sdk.py ENDPOINT SCENARIO ARGS... Each scenario prints one JSON object per line;
the Rust test asserts on them. Every loop is bounded in count and time.
"""

import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
from rocketmq import (ClientConfiguration, Credentials, FilterExpression, Message,
                      Producer, SimpleConsumer)


def out(**kv):
    print(json.dumps(kv), flush=True)


def config(endpoint):
    return ClientConfiguration(endpoint, Credentials(), request_timeout=10)


def producer(endpoint, topic):
    p = Producer(config(endpoint), (topic,))
    p.startup()
    return p


def consumer(endpoint, group, topic, tag="*", await_s=5):
    c = SimpleConsumer(config(endpoint), group, {topic: FilterExpression(tag)},
                       await_duration=await_s)
    c.startup()
    return c


def message(topic, body, tag=None, keys=None, group=None, props=None):
    m = Message()
    m.topic = topic
    m.body = body
    if tag:
        m.tag = tag
    if keys:
        m.keys = keys
    if group:
        m.message_group = group
    for k, v in (props or {}).items():
        m.add_property(k, v)
    return m


def roundtrip(endpoint, topic, group, n):
    """Sends n messages, receives and acks until each came once (or 180 s pass)."""
    n = int(n)
    p = producer(endpoint, topic)
    sent = {}
    window = []
    for i in range(n):
        window.append((i, p.send_async(message(topic, f"m{i}".encode(), "T", f"k{i}"))))
        if len(window) >= 256 or i == n - 1:
            for j, f in window:
                sent[f.result(timeout=30).message_id] = j
            window = []
    p.shutdown()
    out(sent=len(sent))
    c = consumer(endpoint, group, topic)
    pool = ThreadPoolExecutor(max_workers=16)
    seen = {}
    dups = 0
    bad = 0
    deadline = time.time() + 180
    while len(seen) < n and time.time() < deadline:
        msgs = c.receive(32, 60)
        acks = []
        for m in msgs:
            if m.message_id in seen:
                dups += 1
            want = sent.get(m.message_id)
            if want is None or m.body != f"m{want}".encode() or m.tag != "T" \
                    or set(m.keys) != {f"k{want}"} or m.delivery_attempt != 1:
                bad += 1
            seen[m.message_id] = True
            # SimpleConsumer.ack_async returns no future in 5.1.2: acks go through a
            # thread pool instead.
            acks.append(pool.submit(c.ack, m))
        for f in acks:
            f.result(timeout=30)
    # Nothing acked comes back: one more receive finds nothing.
    extra = len(c.receive(32, 60))
    pool.shutdown()
    c.shutdown()
    out(received=len(seen), dups=dups, bad=bad, extra=extra)


def fifo(endpoint, topic, group, groups, per):
    """groups message groups of per messages each, interleaved; checks order per group."""
    groups, per = int(groups), int(per)
    p = producer(endpoint, topic)
    for i in range(per):
        for g in range(groups):
            p.send(message(topic, f"{g}:{i}".encode(), "F", group=f"g{g}"))
    p.shutdown()
    c = consumer(endpoint, group, topic)
    nxt = [0] * groups
    violations = []
    got = 0
    deadline = time.time() + 120
    while got < groups * per and time.time() < deadline:
        for m in c.receive(32, 30):
            g, i = map(int, m.body.decode().split(":"))
            if m.message_group != f"g{g}":
                violations.append(f"message {g}:{i} has group {m.message_group}")
            if i != nxt[g]:
                violations.append(f"group g{g}: got {i}, expected {nxt[g]}")
            nxt[g] = i + 1
            got += 1
            c.ack(m)
    c.shutdown()
    out(received=got, violations=violations[:20])


def redeliver(endpoint, topic, group):
    """An un-acked message comes back after its invisible time; a changed time holds;
    the handle from before the change no longer acks."""
    p = producer(endpoint, topic)
    mid = p.send(message(topic, b"again", "R")).message_id
    p.shutdown()
    c = consumer(endpoint, group, topic, await_s=10)

    def receive_one(invisible_s, limit_s):
        start = time.time()
        while time.time() - start < limit_s:
            msgs = c.receive(1, invisible_s)
            if msgs:
                return msgs[0], time.time()
        return None, time.time()

    first, t1 = receive_one(2, 20)
    out(step="first", id=first.message_id, sent=mid, attempt=first.delivery_attempt)
    second, t2 = receive_one(30, 20)
    out(step="second", id=second.message_id, attempt=second.delivery_attempt,
        after_s=round(t2 - t1, 3))
    old_handle = second.receipt_handle
    c.change_invisible_duration(second, 4)
    t_change = time.time()
    new_handle = second.receipt_handle
    out(step="changed", new_handle=new_handle != old_handle)
    # The handle from before the change must not ack: the SDK acks with the handle the
    # message carries, so give it the old one.
    second.receipt_handle = old_handle
    stale_ok = True
    try:
        c.ack(second)
    except Exception as e:
        stale_ok = False
        out(step="stale", error=str(e)[:300])
    third, t3 = receive_one(30, 20)
    out(step="third", id=third.message_id, attempt=third.delivery_attempt,
        after_change_s=round(t3 - t_change, 3))
    c.ack(third)
    again, _ = receive_one(30, 6)
    c.shutdown()
    out(step="done", stale_acked=stale_ok, came_back=again is not None)


def crash_before(endpoint, topic, group, n):
    """Sends n messages, receives them all (invisible 300 s), acks every even one and
    leaves the rest in flight; prints which ids were acked. The test then kills the
    broker."""
    n = int(n)
    p = producer(endpoint, topic)
    for i in range(n):
        p.send(message(topic, f"c{i}".encode(), "C"))
    p.shutdown()
    c = consumer(endpoint, group, topic)
    got = {}
    deadline = time.time() + 60
    while len(got) < n and time.time() < deadline:
        for m in c.receive(32, 300):
            got[m.message_id] = m
    acked = []
    for mid, m in got.items():
        i = int(m.body.decode()[1:])
        if i % 2 == 0:
            c.ack(m)
            acked.append(mid)
    out(received=len(got), acked=acked, unacked=[i for i in got if i not in acked])
    # No shutdown: the leases stay as they are when the broker dies.
    import os
    os._exit(0)


def crash_after(endpoint, topic, group, want):
    """After the restart: receives until `want` messages came (or 40 s), acking each."""
    want = int(want)
    c = consumer(endpoint, group, topic)
    ids = []
    deadline = time.time() + 40
    while len(ids) < want and time.time() < deadline:
        for m in c.receive(32, 60):
            ids.append(m.message_id)
            c.ack(m)
    # Anything more would be a message acked before the crash.
    more = [m.message_id for m in c.receive(32, 60)]
    c.shutdown()
    out(ids=ids, more=more)


def timer_send(endpoint, topic, n, delay_s):
    """Sends n timer messages due delay_s whole seconds from now, one second apart in
    pairs; prints each id with its due time (ms). The SDK puts `delivery_timestamp` in
    the protobuf Timestamp's seconds as given: it takes seconds since the epoch (as the
    rocketmq-clients example does), though its docstring says ms."""
    p = producer(endpoint, topic)
    base = int(time.time()) + int(delay_s)
    for i in range(int(n)):
        m = message(topic, f"t{i}".encode(), "Timer")
        m.delivery_timestamp = base + i // 2
        r = p.send(m)
        out(id=r.message_id, due=(base + i // 2) * 1000)
    p.shutdown()


def timer_burst(endpoint, topic, n, delay_s):
    """Sends n timer messages all due delay_s whole seconds from now; prints each id
    with its due time (ms)."""
    p = producer(endpoint, topic)
    due = int(time.time()) + int(delay_s)
    for i in range(int(n)):
        m = message(topic, f"b{i}".encode(), "Burst")
        m.delivery_timestamp = due
        out(id=p.send(m).message_id, due=due * 1000)
    p.shutdown()


def timer_receive(endpoint, topic, group, n, limit_s):
    """Receives until n messages came or limit_s passed; prints each with the time it
    arrived (ms since the epoch)."""
    c = consumer(endpoint, group, topic)
    got = 0
    deadline = time.time() + float(limit_s)
    while got < int(n) and time.time() < deadline:
        for m in c.receive(32, 30):
            out(id=m.message_id, at=int(time.time() * 1000), body=m.body.decode(),
                due=m.delivery_timestamp)
            c.ack(m)
            got += 1
    c.shutdown()


def transactions(endpoint, topic, group):
    """Commit, rollback, and an orphan resolved by the broker's check-back over
    Telemetry; prints what the consumer got and what the checker was asked."""
    from rocketmq import TransactionChecker, TransactionResolution

    asked = []

    class Checker(TransactionChecker):
        def check(self, message):
            asked.append(message.body.decode())
            return TransactionResolution.COMMIT

    p = Producer(config(endpoint), (topic,), checker=Checker())
    p.startup()
    for body, end in (("commit-me", "commit"), ("rollback-me", "rollback"), ("orphan", None)):
        tx = p.begin_transaction()
        p.send(message(topic, body.encode(), "Tx"), tx)
        if end == "commit":
            tx.commit()
        elif end == "rollback":
            tx.rollback()
    c = consumer(endpoint, group, topic)
    got = []
    deadline = time.time() + 40
    while len(got) < 2 and time.time() < deadline:
        for m in c.receive(32, 30):
            got.append(m.body.decode())
            c.ack(m)
    # A rolled-back message would have come by now: one more short look.
    got += [m.body.decode() for m in c.receive(32, 30)]
    c.shutdown()
    p.shutdown()
    out(got=sorted(got), asked=asked)


def push(endpoint, topic, group, n):
    """A PushConsumer consumes n messages; the first delivery of m7 fails and must come
    back (the SDK nacks it with the group's retry backoff)."""
    from rocketmq import ConsumeResult, MessageListener, PushConsumer
    import threading

    n = int(n)
    p = producer(endpoint, topic)
    for i in range(n):
        p.send(message(topic, f"m{i}".encode(), "P"))
    p.shutdown()
    lock = threading.Lock()
    done = set()
    attempts = {}

    class Listener(MessageListener):
        def consume(self, m):
            body = m.body.decode()
            with lock:
                attempts.setdefault(body, []).append(m.delivery_attempt)
                if body == "m7" and len(attempts[body]) == 1:
                    return ConsumeResult.FAILURE
                done.add(body)
            return ConsumeResult.SUCCESS

    c = PushConsumer(config(endpoint), group, Listener(), {topic: FilterExpression("P")})
    c.startup()
    deadline = time.time() + 60
    while time.time() < deadline:
        with lock:
            if len(done) >= n:
                break
        time.sleep(0.2)
    time.sleep(2)  # anything redelivered after success would show now
    c.shutdown()
    with lock:
        out(done=len(done), m7=attempts.get("m7", []),
            repeated=sorted(b for b, a in attempts.items() if len(a) > 1 and b != "m7"))
    import os
    os._exit(0)


def renew(endpoint, topic, group, hold_s):
    """Leases of auto-renewing receives (the broker runs with a short
    defaultInvisibleTimeMills). A PushConsumer whose handler runs hold_s, longer than
    the lease, gets each message once. Then a client receives with auto_renew, the
    message stays away from another consumer of the group for hold_s, and comes back
    soon after its client ends."""
    from rocketmq import ConsumeResult, MessageListener, PushConsumer
    import threading

    hold_s = float(hold_s)
    p = producer(endpoint, topic)
    for i in range(6):
        p.send(message(topic, f"r{i}".encode()))
    lock = threading.Lock()
    attempts = {}
    done = set()

    class Slow(MessageListener):
        def consume(self, m):
            body = m.body.decode()
            with lock:
                attempts.setdefault(body, []).append(m.delivery_attempt)
            time.sleep(hold_s)
            with lock:
                done.add(body)
            return ConsumeResult.SUCCESS

    c = PushConsumer(config(endpoint), group, Slow(), {topic: FilterExpression("*")})
    c.startup()
    deadline = time.time() + hold_s * 4 + 30
    while time.time() < deadline:
        with lock:
            if len(done) >= 6:
                break
        time.sleep(0.2)
    time.sleep(2)  # a redelivery after the acks would show now
    c.shutdown()
    with lock:
        out(push=attempts)

    p.send(message(topic, b"held"))
    p.shutdown()
    a = consumer(endpoint, group, topic)
    queue = a._SimpleConsumer__select_topic_queue(topic)
    got = []
    deadline = time.time() + 30
    while not got and time.time() < deadline:
        req = a._receive_req(topic, queue, 1, True, long_polling_timeout=5)
        got = a._receive(queue, req, 20)
    b = consumer(endpoint, group, topic, await_s=2)
    early = []
    until = time.time() + hold_s
    while time.time() < until:
        early += [m.body.decode() for m in b.receive(1, 10)]
    a.shutdown()  # NotifyClientTermination
    t0 = time.time()
    back, attempt = None, None
    while back is None and time.time() < t0 + 30:
        for m in b.receive(1, 10):
            back, attempt = time.time() - t0, m.delivery_attempt
            b.ack(m)
    b.shutdown()
    out(held=[m.body.decode() for m in got], early=early, back_s=back, attempt=attempt)
    import os
    os._exit(0)


def acl(endpoint, topic, group, ak, sk):
    """ACL on: unsigned raw calls are refused; the SDK signed with ak/sk sends and
    receives; a topic the account lacks is refused by name."""
    from rocketmq.grpc_protocol import service_pb2, definition_pb2
    ch = grpc.insecure_channel(endpoint)
    route = ch.unary_unary("/apache.rocketmq.v2.MessagingService/QueryRoute",
                           request_serializer=service_pb2.QueryRouteRequest.SerializeToString,
                           response_deserializer=service_pb2.QueryRouteResponse.FromString)
    try:
        route(service_pb2.QueryRouteRequest(topic=definition_pb2.Resource(name=topic)),
              timeout=10)
        unsigned = ["OK", ""]
    except grpc.RpcError as e:
        unsigned = [e.code().name, e.details()]
    cfg = ClientConfiguration(endpoint, Credentials(ak, sk), request_timeout=10)
    p = Producer(cfg, (topic,))
    p.startup()
    sent = p.send(message(topic, b"signed", "A")).message_id
    p.shutdown()
    # The SDK hides the server's words behind "failed to fetch route": ask with the
    # SDK's own signed metadata instead.
    from rocketmq.v5.util.signature import Signature
    try:
        route(service_pb2.QueryRouteRequest(topic=definition_pb2.Resource(name="AclOther")),
              timeout=10, metadata=Signature.metadata(cfg, "acl-test-client"))
        denied = "OK"
    except grpc.RpcError as e:
        denied = e.details()
    c = SimpleConsumer(cfg, group, {topic: FilterExpression("A")}, await_duration=5)
    c.startup()
    got = []
    deadline = time.time() + 20
    while not got and time.time() < deadline:
        for m in c.receive(8, 30):
            got.append(m.message_id)
            c.ack(m)
    c.shutdown()
    out(unsigned=unsigned, sent=sent, got=got, denied=denied)
    import os
    os._exit(0)


def sql(endpoint, topic, group, expression, n):
    """Sends n messages (body i; property a = i % 10; color red, blue or unset by i % 3;
    tag T<i % 2>), then receives with a SQL92 filter until two receives come back empty
    (60 s at most) and prints the bodies it got; a refused receive prints its error."""
    from rocketmq.grpc_protocol import FilterType
    n = int(n)
    p = producer(endpoint, topic)
    for i in range(n):
        props = {"a": str(i % 10)}
        if i % 3 < 2:
            props["color"] = ("red", "blue")[i % 3]
        p.send(message(topic, str(i).encode(), f"T{i % 2}", props=props))
    p.shutdown()
    c = SimpleConsumer(config(endpoint), group, {topic: FilterExpression(expression, FilterType.SQL)},
                       await_duration=2)
    c.startup()
    got, empty, deadline = [], 0, time.time() + 60
    try:
        while empty < 2 and time.time() < deadline:
            batch = c.receive(32, 30)
            empty = empty + 1 if not batch else 0
            for m in batch:
                got.append(int(m.body.decode()))
                c.ack(m)
        out(got=got)
    except Exception as e:
        out(error=str(e))
    c.shutdown()


def receive_some(endpoint, topic, group, n):
    """Receives n messages and prints what a 5.x consumer sees of each."""
    n = int(n)
    c = consumer(endpoint, group, topic)
    got = 0
    deadline = time.time() + 60
    while got < n and time.time() < deadline:
        for m in c.receive(32, 30):
            out(id=m.message_id, tag=m.tag, keys=sorted(m.keys), body=m.body.decode("latin-1"),
                props=dict(m.properties or {}), attempt=m.delivery_attempt)
            c.ack(m)
            got += 1
    c.shutdown()


def send_some(endpoint, topic, n):
    """Sends n messages with a tag, a key and a user property; prints their ids."""
    p = producer(endpoint, topic)
    for i in range(int(n)):
        r = p.send(message(topic, f"five {i}".encode(), "Five", f"fk{i}", props={"color": "red"}))
        out(id=r.message_id)
    p.shutdown()


def bad_input(endpoint, topic):
    """Raw gRPC calls: each refusal is a status naming the problem, and the same
    connection keeps serving."""
    from rocketmq.grpc_protocol import service_pb2, definition_pb2
    ch = grpc.insecure_channel(endpoint, options=[("grpc.max_send_message_length", -1)])
    svc = "/apache.rocketmq.v2.MessagingService/"

    def raw(rpc, payload):
        call = ch.unary_unary(svc + rpc, request_serializer=lambda b: b,
                              response_deserializer=lambda b: b)
        try:
            call(payload, timeout=10)
            return "OK", ""
        except grpc.RpcError as e:
            return e.code().name, e.details() or ""

    def route():
        call = ch.unary_unary(svc + "QueryRoute",
                              request_serializer=service_pb2.QueryRouteRequest.SerializeToString,
                              response_deserializer=service_pb2.QueryRouteResponse.FromString)
        r = call(service_pb2.QueryRouteRequest(topic=definition_pb2.Resource(name=topic)),
                 timeout=10)
        return r.status.code, len(r.message_queues)

    results = {}
    results["unknown"] = raw("NoSuchRpc", b"")
    results["malformed"] = raw("SendMessage", b"\x0a\xff\xff\xff\xff\x0f")
    results["too_large"] = raw("SendMessage", b"\x0a" + b"\x00" * (17 * 1024 * 1024))
    results["route_after"] = route()
    recv = ch.unary_stream(svc + "ReceiveMessage",
                           request_serializer=service_pb2.ReceiveMessageRequest.SerializeToString,
                           response_deserializer=service_pb2.ReceiveMessageResponse.FromString)
    statuses = {}
    for name, t, g in (("no_topic", "NoSuchTopic", "G1"), ("ok_topic", topic, "G1")):
        req = service_pb2.ReceiveMessageRequest(
            group=definition_pb2.Resource(name=g),
            message_queue=definition_pb2.MessageQueue(topic=definition_pb2.Resource(name=t)),
            batch_size=1, invisible_duration={"seconds": 10},
            long_polling_timeout={"seconds": 1})
        codes = [r.status.code for r in recv(req, timeout=10) if r.HasField("status")]
        statuses[name] = codes
    results["receive"] = statuses
    out(**{k: list(v) if isinstance(v, tuple) else v for k, v in results.items()})


def linger(endpoint, topic, group, tag):
    """Starts a producer and a SimpleConsumer, makes one round trip so the broker has
    both clients' settings, prints their client ids, and stays connected until stdin
    closes (or 120 s pass) so the test can look at them with mqadmin and the console."""
    import select
    p = producer(endpoint, topic)
    c = consumer(endpoint, group, topic, tag, await_s=2)
    p.send(message(topic, b"linger", tag=tag))
    got = []
    deadline = time.time() + 30
    while not got and time.time() < deadline:
        got = c.receive(1, 10)
    for m in got:
        c.ack(m)
    out(producer=p.client_id, consumer=c.client_id, received=len(got))
    select.select([sys.stdin], [], [], 120)
    c.shutdown()
    p.shutdown()


if __name__ == "__main__":
    endpoint, scenario, *args = sys.argv[1:]
    {
        "roundtrip": roundtrip,
        "fifo": fifo,
        "redeliver": redeliver,
        "receive": receive_some,
        "sql": sql,
        "send": send_some,
        "bad-input": bad_input,
        "crash-before": crash_before,
        "timer-send": timer_send,
        "transactions": transactions,
        "push": push,
        "renew": renew,
        "acl": acl,
        "timer-receive": timer_receive,
        "timer-burst": timer_burst,
        "crash-after": crash_after,
        "linger": linger,
    }[scenario](endpoint, *args)
