"""UpCloud billing and network usage, generated on demand and deterministically.

Four resources (2 servers, 1 managed database, 1 managed object storage) exist in
every month from 2020-01 to the current one; with a scale K above 1 (cloudsim.py
--scale), so do K - 1 numbered copies of the four, each with a uuid of its own.
Their traffic is a seeded series per resource and month (one value per hour);
billing counts hours and traffic of completed hours only (an hour counts once it
has fully passed "now"), so nothing after "now" is ever reported. The account's traffic is the sum of its resources'.
The current month is now's, or the real clock's when that is later (a run that
outlived now's month, or a --now in the past): every month a client lists from
its own clock is served, one after now's with nothing used yet.
Errors use problem+json (the route's form).
"""

import math
import random
import re
import uuid as uuids
from dataclasses import dataclass, replace
from functools import lru_cache

from clock import DAY, HOUR, floor_hour, iso, month_start, next_month, parse_iso, wall_clock
from server import ApiError, Response, Route, json_response

FIRST_MONTH = "2020-01"
MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
QUOTA_PER_HOUR = 9872459548
WINDOW_LIMIT = 31 * DAY
ACCOUNT_CSV = ("start time,sent bytes,total sent bytes,accumulated quota bytes,"
               "projected monthly quota bytes,quota increase")
RESOURCE_CSV = "start time,sent bytes,service,resource id,zone"


@dataclass(frozen=True)
class Resource:
    uuid: str
    kind: str  # resource_billing_summary's "type"
    title: str
    plan: str
    zone: str
    price: float  # per hour
    service: str | None = None  # network service, if it sends traffic
    bytes_per_hour: int = 0
    size_gib: int = 0


RESOURCES = [
    Resource("0026d4b2-3a1f-4c6e-9b1d-5e8f7a6c4d21", "server", "web-1", "2xCPU-4GB", "fi-hel2", 0.03571,
             "server_public", 80_000_000),
    Resource("00b5e3c8-7d2a-4f19-8e6b-2c4a9f1d3e57", "server", "worker-1", "4xCPU-8GB", "de-fra1", 0.07143,
             "server_public", 300_000_000),
    Resource("09a7c1e5-6b3d-4e8f-a2c9-7d5b1e3f9a64", "managed_database", "main-pg", "1x1xCPU-2GB-25GB",
             "fi-hel2", 0.03571),
    Resource("127e5a3d-9c4b-4f2e-b8a1-3d6c7e9f1b28", "managed_object_storage", "assets", "500GB", "fi-hel2",
             0.00694, "object_storage_public", 1_200_000_000, 500),
]
DISKS = [("01c3f7a9-5e2b-4d8c-9f1a-6b4e2d7c3a85", 0, 50),
         ("01d8e2b6-4a9c-4f3e-8b7d-1c5a9e3f6b42", 1, 80)]  # legacy storages: (uuid, server index, GiB)
DISK_PRICE = 0.000307  # per GiB-hour
BANDWIDTH_PRICE = 0.0005  # per GiB, legacy networks


def problem(code, message, **invalid):
    params = [{"name": name, "reason": reason} for name, reason in invalid.items()]
    return ApiError(400, code, message, invalid_params=params)


def month_of(moment):
    return f"{moment:%Y-%m}"


def total(amounts):
    return round(float(sum(amounts)), 5)


def copied_uuid(uuid, copy):
    """A seeded uuid for copy number `copy`, keeping the two hex digits that
    tell UpCloud's kinds of resource apart."""
    rng = random.Random(f"copy:{uuid}:{copy}")
    return uuid[:2] + str(uuids.UUID(int=rng.getrandbits(128), version=4))[2:]


class Resources:
    """The resources of one scale: RESOURCES, then scale - 1 numbered copies."""

    def __init__(self, scale):
        self.all = list(RESOURCES)
        disks = [(uuid, RESOURCES[server], size) for uuid, server, size in DISKS]
        for copy in range(2, scale + 1):
            twins = [replace(r, uuid=copied_uuid(r.uuid, copy), title=f"{r.title}-{copy}") for r in RESOURCES]
            self.all += twins
            disks += [(copied_uuid(uuid, copy), twins[server], size) for uuid, server, size in DISKS]
        self.by_uuid = {resource.uuid: resource for resource in self.all}
        self.senders = [resource for resource in self.all if resource.service]
        self.servers = [resource for resource in self.all if resource.kind == "server"]
        self.disks = disks

    def of_kind(self, kind):
        return [resource for resource in self.all if resource.kind == kind]


class Metering:
    def __init__(self, now, scale=1):
        self.now = now
        self.current_month = month_of(now)
        self.rescale(scale)

    def rescale(self, scale):
        """The resources of that scale (a reset's); a copy's uuid, and so its
        series, is the same at every scale, but the account's sums are not."""
        self.resources = Resources(scale)
        Metering.account_hourly.cache_clear()

    def routes(self, form):
        account = "/1.3/account"
        month = "(?P<month>[^/]+)"
        return [
            Route("GET", f"{account}/billing/summary/{month}", self.summary, form=form),
            Route("GET", f"{account}/billing_summary/{month}", self.legacy_summary, form=form),
            Route("GET", f"{account}/billing_summary/{month}/detailed", self.legacy_detailed, form=form),
            Route("GET", f"{account}/resource_billing_summary/(?P<uuid>[^/]+)/{month}", self.resource_billing,
                  form=form),
            Route("GET", f"{account}/network_usage/?", self.network_usage, form=form),
            Route("GET", f"{account}/resource_network_usage/?", self.resource_network_usage, form=form),
            Route("GET", f"{account}/current_network_usage", self.current_network_usage, form=form),
        ]

    def state(self):
        return {"first_month": FIRST_MONTH, "current_month": self.current_month,
                "resources": [{"resource_id": r.uuid, "type": r.kind, "title": r.title, "plan": r.plan,
                               "zone": r.zone} for r in self.resources.all]}

    # -- model ---------------------------------------------------------------------------

    def check_month(self, text):
        if not MONTH.fullmatch(text):
            raise problem("INVALID_REQUEST", f"{text!r} is not a YYYY-MM month.", yearmonth="format YYYY-MM")
        if not FIRST_MONTH <= text <= max(self.current_month, month_of(wall_clock())):
            raise ApiError(404, "RESOURCE_NOT_FOUND", f"No billing data for {text}.")
        return parse_iso(f"{text}-01T00:00:00Z")

    def completed(self, hour):
        return hour + HOUR <= self.now

    def completed_hours(self, month):
        """How many hours of the month have passed (they are always its first ones)."""
        start = parse_iso(f"{month}-01T00:00:00Z")
        return max(0, min((next_month(start) - start) // HOUR, (self.now - start) // HOUR))

    @lru_cache(maxsize=2048)
    def hourly_bytes(self, uuid, month):
        """Bytes sent in each hour of the month (whole month, past or not)."""
        resource, start = self.resources.by_uuid[uuid], parse_iso(f"{month}-01T00:00:00Z")
        rng = random.Random(f"traffic:{uuid}:{month}")
        hours = (next_month(start) - start) // HOUR
        return [int(resource.bytes_per_hour * (1 + 0.6 * math.cos(2 * math.pi * (h % 24 - 15) / 24))
                    * rng.uniform(0.7, 1.3)) for h in range(hours)]

    @lru_cache(maxsize=256)
    def account_hourly(self, month):
        """(sent bytes, cumulative sent bytes) per hour of the month."""
        series = (self.hourly_bytes(r.uuid, month) for r in self.resources.senders)
        sums = [sum(values) for values in zip(*series)]
        running, out = 0, []
        for value in sums:
            running += value
            out.append((value, running))
        return out

    @lru_cache(maxsize=2048)
    def daily_usage(self, uuid, month):
        """{day: (hours, amount)} of one resource: completed hours, minus a few days off."""
        resource, start = self.resources.by_uuid[uuid], parse_iso(f"{month}-01T00:00:00Z")
        days = [start + n * DAY for n in range((next_month(start) - start) // DAY)]
        rng = random.Random(f"billing:{uuid}:{month}")
        off = set(rng.sample(range(len(days)), rng.randint(0, 3))) if resource.kind == "server" else set()
        done, usage = self.completed_hours(month), {}
        for n, day in enumerate(days):
            hours = 0 if n in off else max(0, min(24, done - 24 * n))
            usage[f"{day:%Y-%m-%d}"] = (hours, round(hours * resource.price, 5))
        return usage

    def billed(self, resource, month):
        usage = self.daily_usage(resource.uuid, month).values()
        return sum(hours for hours, _ in usage), total(amount for _, amount in usage)

    # -- billing -----------------------------------------------------------------------

    def summary(self, req, month):
        self.check_month(month)
        wanted = req.param("resource_id")
        groups = {"servers": "server", "managed_databases": "managed_database",
                  "managed_object_storages": "managed_object_storage"}
        body = {"currency": "EUR"}
        for outer, kind in groups.items():
            resources = [self.summary_entry(r, month) for r in self.resources.of_kind(kind)
                         if wanted in (None, r.uuid)]
            amount = total(entry["amount"] for entry in resources)
            body[outer] = {kind: {"resources": resources, "total_amount": amount}, "total_amount": amount}
        body["total_amount"] = total(body[outer]["total_amount"] for outer in groups)
        return json_response(body)

    def summary_entry(self, resource, month):
        hours, amount = self.billed(resource, month)
        detail = {"amount": amount, "hours": hours}
        if resource.kind == "server":
            detail.update(labels=[{"key": "role", "value": resource.title}], plan=resource.plan)
        elif resource.kind == "managed_database":
            detail["plan"] = resource.plan
        else:
            detail["billable_size_gib"] = resource.size_gib
        detail["zone"] = resource.zone
        return {"amount": amount, "details": [dict(sorted(detail.items()))], "hours": hours,
                "resource_id": resource.uuid}

    def detailed(self, month):
        def group(inner, resources):
            amount = total(r["amount"] for r in resources)
            return {inner: {"resources": resources, "total_amount": amount}, "total_amount": amount}

        def plan_entry(resource):
            hours, amount = self.billed(resource, month)
            return {"amount": amount, "hours": hours, "plan": resource.plan, "resource_id": resource.uuid}

        def disk_entry(uuid, server, size):
            hours, _ = self.billed(server, month)
            return {"amount": round(hours * size * DISK_PRICE, 5), "hours": hours, "resource_id": uuid,
                    "size": size}

        def bandwidth_entry(server):
            sent = sum(self.hourly_bytes(server.uuid, month)[:self.completed_hours(month)])
            return {"amount": round(sent / 2**30 * BANDWIDTH_PRICE, 5), "bandwidth_out": sent,
                    "bandwidth_type": "public_ipv4", "hours": 0, "resource_id": server.uuid}

        def storage_entry(storage):
            hours, amount = self.billed(storage, month)
            return {"amount": amount, "hours": hours, "resource_id": storage.uuid, "size": storage.size_gib}

        resources = self.resources
        billing = {
            "currency": "EUR",
            "networks": group("bandwidth", [bandwidth_entry(server) for server in resources.servers]),
            "managed_databases": group("managed_database", [plan_entry(r) for r in
                                                            resources.of_kind("managed_database")]),
            "object_storages": group("object_storage", [storage_entry(r) for r in
                                                        resources.of_kind("managed_object_storage")]),
            "servers": group("server", [plan_entry(server) for server in resources.servers]),
            "storages": group("storage", [disk_entry(*disk) for disk in resources.disks]),
        }
        billing["total_amount"] = total(value["total_amount"] for value in billing.values() if isinstance(value, dict))
        return billing

    def legacy_detailed(self, req, month):
        self.check_month(month)
        return json_response({"billing": self.detailed(month)})

    def legacy_summary(self, req, month):
        self.check_month(month)
        billing = self.detailed(month)
        for key, value in billing.items():
            if isinstance(value, dict):
                billing[key] = {inner: {"total_amount": part["total_amount"]} if isinstance(part, dict) else part
                                for inner, part in value.items()}
        return json_response({"billing": billing})

    def resource_billing(self, req, uuid, month):
        self.check_month(month)
        resource = self.resources.by_uuid.get(uuid)
        if resource is None:
            raise ApiError(404, "RESOURCE_NOT_FOUND", f"Resource {uuid} not found.")
        usage = self.daily_usage(uuid, month)
        hours, amount = self.billed(resource, month)
        return json_response({"billing": {
            "daily_sums": {day: value for day, (_, value) in usage.items() if value},
            "details": {"hours": hours, "plan": resource.plan, "resource_id": uuid, "title": resource.title,
                        "type": resource.kind, "zone": resource.zone},
            "total_amount": amount,
        }})

    # -- network -----------------------------------------------------------------------

    def window(self, req):
        """(buckets, csv): completed bucket starts in [floor(from), to]."""
        missing = {name: "required" for name in ("from", "to") if not req.param(name)}
        if missing:
            raise problem("INVALID_REQUEST", "from and to are required.", **missing)
        try:
            since, until = parse_iso(req.param("from")), parse_iso(req.param("to"))
        except ValueError:
            raise problem("INVALID_REQUEST", "from and to must be RFC 3339 timestamps.",
                          **{"from": "RFC 3339", "to": "RFC 3339"}) from None
        step = {"hour": HOUR, "day": DAY}.get(req.param("accumulate", "day"))
        if step is None:
            raise problem("INVALID_REQUEST", "accumulate must be hour or day.", accumulate="hour or day")
        if until < since:
            raise problem("INVALID_DATE", "TO date is older than FROM date.", to="before from")
        csv = "text/csv" in req.headers.get("accept", "")
        if not csv and until - since > WINDOW_LIMIT:
            raise problem("INVALID_TIME_WINDOW_SIZE", "Days between FROM and TO can't be over 31 days.",
                          to="window over 31 days")
        bucket = floor_hour(since) if step == HOUR else since.replace(hour=0, minute=0, second=0, microsecond=0)
        bucket = max(bucket, parse_iso(f"{FIRST_MONTH}-01T00:00:00Z"))
        buckets = []
        while bucket <= until and self.completed(bucket):
            buckets.append((bucket, step))
            bucket += step
        return buckets, csv

    def bucket_hours(self, start, step):
        """Indices, within its month, of the completed hours of a bucket."""
        first = (start - month_start(start)) // HOUR
        return range(first, min(first + step // HOUR, self.completed_hours(month_of(start))))

    def account_stat(self, start, step):
        month = month_of(start)
        series = self.account_hourly(month)
        hours = self.bucket_hours(start, step)
        return {
            "accumulated_quota_bytes": QUOTA_PER_HOUR * (hours[-1] + 1),
            "projected_monthly_quota_bytes": QUOTA_PER_HOUR * len(series),
            "quota_increase_bytes": QUOTA_PER_HOUR * len(hours),
            "sent_bytes": sum(series[h][0] for h in hours),
            "start_time": iso(start),
            "total_sent_bytes": series[hours[-1]][1],
        }

    def network_usage(self, req):
        buckets, csv = self.window(req)
        stats = [self.account_stat(*bucket) for bucket in buckets]
        columns = ("start_time", "sent_bytes", "total_sent_bytes", "accumulated_quota_bytes",
                   "projected_monthly_quota_bytes", "quota_increase_bytes")
        return stats_response(stats, csv, ACCOUNT_CSV, columns)

    def resource_network_usage(self, req):
        buckets, csv = self.window(req)
        zones, ids, services = (set(req.params.get(name, [])) for name in ("zone", "resource_id", "service"))
        chosen = [r for r in self.resources.senders
                  if (not zones or r.zone in zones) and (not ids or r.uuid in ids)
                  and (not services or r.service in services)]
        stats = [{"resource_id": r.uuid,
                  "sent_bytes": sum(self.hourly_bytes(r.uuid, month_of(start))[h]
                                    for h in self.bucket_hours(start, step)),
                  "service": r.service, "start_time": iso(start), "zone": r.zone}
                 for start, step in buckets for r in chosen]
        return stats_response(stats, csv, RESOURCE_CSV, ("start_time", "sent_bytes", "service", "resource_id", "zone"))

    def current_network_usage(self, req):
        series = self.account_hourly(self.current_month)
        done = self.completed_hours(self.current_month)
        return json_response({"stats": {"current_network_usage": {
            "accumulated_quota_bytes": QUOTA_PER_HOUR * done,
            "hourly_quota_increase_bytes": QUOTA_PER_HOUR,
            "projected_monthly_quota_bytes": QUOTA_PER_HOUR * len(series),
            "total_sent_bytes": series[done - 1][1] if done else 0,
            "updated": iso(floor_hour(self.now)),
        }}})


def stats_response(stats, csv, header, columns):
    if not csv:
        return json_response({"stats": {"stat": stats}})
    lines = [header] + [",".join(str(stat[column]) for column in columns) for stat in stats]
    return Response(200, ("\n".join(lines) + "\n").encode(), "text/csv")
