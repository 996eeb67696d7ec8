"""Deterministic seed data for both providers, relative to "now" (clock.py).

build(now) returns a Dataset whose `clever` and `upcloud` dicts hold every object
exactly as the API serves it (see control.py for the layout). One seeded random
generator makes the ids (`app_` + uuid, ...), so a run, a reset and another machine
all see the same data. new_app() and new_log_event() complete the partial objects
that the control API's mutate ops add.

build(now, Fleet(apps, subaccounts, scale)) adds generated objects for the
benchmarks: an organisation of its own holding `apps` applications, shaped like
the seeded ones (deployments, instances, load balancer, log history), and
`subaccounts` UpCloud subaccounts. With `scale` K above 1, the seeded data comes
about K times over: each owner gets K - 1 numbered copies of its applications
(with their deployments, instances, load balancer and log history) and add-ons,
and K times its invoices (a longer monthly history); each UpCloud subaccount
gets K - 1 numbered copies, whose label values carry the copy's number (so there
are K times the label pairs too; metering.py multiplies the billing resources).
The seeded objects stay as they are; only the log event ids, counted over every
application in date order, move.
"""

import json
import random
import uuid
from dataclasses import dataclass
from datetime import datetime

from clock import DAY, HOUR, MINUTE, SECOND, epoch_ms, iso, month_start, parse_iso
import invoices

SEED = 20261115
FLEET_SEED = SEED + 1  # the fleet's own generator leaves the seeded ids alone
COPIES_SEED = SEED + 2  # and so does the scaled copies' one


@dataclass
class Fleet:
    apps: int = 0
    subaccounts: int = 0
    scale: int = 1


@dataclass
class Dataset:
    clever: dict
    upcloud: dict
    passwords: dict  # UpCloud subaccount passwords (never served)
    large_invoice: str  # the invoice number whose documents are large
    next_log_id: int
    logs_end: datetime  # the newest log event's date (minutes before now)


class Ids:
    """Seeded ids in the providers' formats."""

    def __init__(self, seed):
        self.rng = random.Random(seed)

    def uuid(self):
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def prefixed(self, prefix):
        return f"{prefix}_{self.uuid()}"

    def sha(self):
        return f"{self.rng.getrandbits(160):040x}"


def build(now, fleet=Fleet()):
    ids = Ids(SEED)
    clever, large_invoice = clever_data(ids, now)
    copies = add_copies(Ids(COPIES_SEED), clever, fleet.scale, now)
    if fleet.apps:
        add_fleet_org(Ids(FLEET_SEED), clever, fleet.apps, now)
    logs, next_log_id, logs_end = log_history(ids, clever, now, drawn_last=copies)
    clever["logs"] = logs
    upcloud, passwords = upcloud_data(fleet.subaccounts, fleet.scale)
    return Dataset(unshared(clever), unshared(upcloud), passwords, large_invoice, next_log_id, logs_end)


def unshared(data):
    """A deep copy, so that no two objects share a part (the account access lists do).
    Every object is served as JSON, so a JSON round trip keeps it; and it is many
    times faster than copy.deepcopy on a large fleet."""
    return json.loads(json.dumps(data))


# -- Clever Cloud ----------------------------------------------------------------

ORGS = [
    {"name": "Acme Corp", "description": "Acme Corporation, production workloads",
     "billingEmail": "billing@acme.example", "address": "10 rue de Rivoli", "city": "Paris",
     "zipcode": "75004", "country": "FRANCE", "company": "Acme Corp SAS", "VAT": "FR12345678901",
     "vat_percent": 20.0, "alpha2": "FR"},
    {"name": "Bêta Labs", "description": "Bêta Labs: prototypes and experiments",
     "billingEmail": "compta@beta-labs.example", "address": "4200 boulevard Saint-Laurent",
     "city": "Montréal", "zipcode": "H2W 2R2", "country": "CANADA", "company": "Bêta Labs Inc.",
     "VAT": "", "vat_percent": 0.0, "alpha2": "CA"},
]

VARIANTS = {
    "node": ("Node", "node", "20241009"),
    "php": ("PHP", "php", "20241015"),
    "python": ("Python", "python", "20240920"),
}

# (owner index: 0 = personal space, 1 = Acme, 2 = Beta), name, variant, zone, state, description
APPS = [
    (0, "ada-blog", "node", "par", "SHOULD_BE_UP", "Personal blog about analytical engines"),
    (1, "api-gateway", "node", "par", "SHOULD_BE_UP",
     "Public API gateway. There is a needle-7f3a in the haystack."),
    (1, "Marketing Site", "php", "rbx", "SHOULD_BE_UP", "The acme.example marketing website"),
    (2, "prototype", "python", "rbx", "SHOULD_BE_DOWN", "Notebook-backed prototype, stopped"),
]

ADDON_PROVIDERS = {
    "addon-pulsar": ("Pulsar", "pulsar", ("beta", "Beta", 0.0),
                     ["ADDON_PULSAR_BINARY_URL", "ADDON_PULSAR_HTTP_URL", "ADDON_PULSAR_TENANT",
                      "ADDON_PULSAR_NAMESPACE", "ADDON_PULSAR_TOKEN"]),
    "postgresql-addon": ("PostgreSQL", "postgresql", ("xs_sml", "XS Small Space", 5.25),
                         ["POSTGRESQL_ADDON_HOST", "POSTGRESQL_ADDON_PORT", "POSTGRESQL_ADDON_DB",
                          "POSTGRESQL_ADDON_USER", "POSTGRESQL_ADDON_PASSWORD",
                          "POSTGRESQL_ADDON_URI"]),
    "redis-addon": ("Redis", "redis", ("s", "S", 10.5),
                    ["REDIS_HOST", "REDIS_PORT", "REDIS_PASSWORD", "REDIS_URL"]),
}

# owner index, name, provider id, region
ADDONS = [
    (0, "blog-cache", "redis-addon", "par"),
    (1, "events-bus", "addon-pulsar", "par"),
    (1, "main-db", "postgresql-addon", "par"),
]

# per owner index: statuses of its 4 invoices, newest first
INVOICE_STATUSES = [
    ["PENDING", "PAID", "PAID", "PAID"],
    ["PENDING", "PAID", "PAID", "CANCELED"],
    ["PAID", "PAYMENTHELD", "PAID", "REFUNDED"],
]
LARGE_INVOICE = (1, 2)  # Acme's third invoice

ZONES = [
    ("par", "France", "FR", "Paris", 48.8566, 2.3522, ["region:eu", "infra:clever-cloud"]),
    ("rbx", "France", "FR", "Roubaix", 50.6942, 3.1746, ["region:eu", "infra:ovh"]),
    ("mtl", "Canada", "CA", "Montreal", 45.5017, -73.5673, ["region:na", "infra:ovh"]),
    ("sgp", "Singapore", "SG", "Singapore", 1.3521, 103.8198, ["region:ap", "infra:ovh"]),
]

FLAVORS = {"XS": (1, 1024, 0.0201), "S": (2, 2048, 0.0402), "M": (4, 4096, 0.0804)}


def clever_data(ids, now):
    user = make_user(ids, now)
    orgs = [make_org(ids, spec, now) for spec in ORGS]
    owners = [user["id"]] + [org["id"] for org in orgs]
    applications = {owner: [] for owner in owners}
    for index, *spec in APPS:
        applications[owners[index]].append(make_app(ids, owners[index], *spec, now))
    addons = {owner: [] for owner in owners}
    for index, *spec in ADDONS:
        addons[owners[index]].append(make_addon(ids, *spec, now))
    billing = billing_specs(user)
    invoices_by_owner = {}
    for index, owner in enumerate(owners):
        invoices_by_owner[owner] = [
            make_invoice(ids, owner, billing[index], month, status, (index, month) == LARGE_INVOICE, now)
            for month, status in enumerate(INVOICE_STATUSES[index])
        ]
    large = invoices_by_owner[owners[LARGE_INVOICE[0]]][LARGE_INVOICE[1]]["invoice_number"]
    apps = [app for owner in owners for app in applications[owner]]
    deployments, instances, balancers = {}, {}, {}
    for offset, app in enumerate(apps):
        tables = app_tables(ids, app, user["id"], now - offset * 7 * MINUTE)
        deployments[app["id"]], instances[app["id"]], balancers[app["id"]] = tables
    policies = {addon["realId"]: default_storage_policy()
                for owner in owners for addon in addons[owner] if is_pulsar(addon)}
    data = {
        "self": user,
        "organisations": orgs,
        "applications": applications,
        "addons": addons,
        "invoices": invoices_by_owner,
        "deployments": deployments,
        "instances": instances,
        "load_balancers": balancers,
        "zones": [make_zone(ids, *spec) for spec in ZONES],
        "storage_policies": policies,
    }
    return data, large


def billing_specs(user):
    """The invoice billing details of each owner index."""
    specs = [(user["name"], "", user["address"], user["city"], user["zipcode"], "GB", 20.0)]
    return specs + [(spec["name"], spec["company"], spec["address"], spec["city"], spec["zipcode"],
                     spec["alpha2"], spec["vat_percent"]) for spec in ORGS]


def is_pulsar(addon):
    return addon["provider"]["id"] == "addon-pulsar"


def app_tables(ids, app, author, newest):
    """An application's deployments (the newest starting 6 h before `newest`),
    instances and load balancer."""
    deployments = make_deployments(ids, app, author, newest)
    return deployments, make_instances(ids, app, deployments), make_load_balancer(ids, app)


FLEET_ORG = {"name": "Fleet Works", "description": "Generated applications, for the benchmarks",
             "billingEmail": "billing@fleet.example", "address": "1 avenue des Tests",
             "city": "Nantes", "zipcode": "44000", "country": "FRANCE", "company": "Fleet Works SAS",
             "VAT": "FR98765432109", "vat_percent": 20.0, "alpha2": "FR"}
STAGGER = 100  # generated apps' deployments 7 min apart, wrapping: every history fits in the last day
FLEET_VARIANTS = ("node", "php", "python")
FLEET_ZONES = ("par", "rbx")


def add_fleet_org(ids, clever, count, now):
    """The Fleet Works organisation: `count` applications, no add-ons, no invoices."""
    org = make_org(ids, FLEET_ORG, now)
    owner = org["id"]
    clever["organisations"].append(org)
    clever["addons"][owner], clever["invoices"][owner] = [], []
    apps = [make_app(ids, owner, f"fleet-{number:05d}", FLEET_VARIANTS[number % 3], FLEET_ZONES[number % 2],
                     "SHOULD_BE_UP", f"Generated application {number} of {count}", now)
            for number in range(1, count + 1)]
    clever["applications"][owner] = apps
    for number, app in enumerate(apps, 1):
        add_app_tables(ids, clever, app, now - number % STAGGER * 7 * MINUTE)


def add_app_tables(ids, clever, app, newest):
    """A generated application's deployments, instances and load balancer."""
    tables = app_tables(ids, app, clever["self"]["id"], newest)
    for table, rows in zip(("deployments", "instances", "load_balancers"), tables):
        clever[table][app["id"]] = rows


def add_copies(ids, clever, scale, now):
    """The scale - 1 numbered copies of each owner's applications and add-ons,
    and its invoices times scale; returns the ids of the copied applications."""
    owners = [clever["self"]["id"]] + [org["id"] for org in clever["organisations"]]
    billing = billing_specs(clever["self"])
    copied = set()
    for index, owner in enumerate(owners):
        apps, addons = clever["applications"][owner], clever["addons"][owner]
        seeded_apps, seeded_addons = list(apps), list(addons)
        for copy in range(2, scale + 1):
            for app in seeded_apps:
                twin = make_app(ids, owner, f"{app['name']}-{copy}", app["instance"]["type"], app["zone"],
                                app["state"], app["description"], now)
                add_app_tables(ids, clever, twin, now - len(copied) % STAGGER * 7 * MINUTE)
                apps.append(twin)
                copied.add(twin["id"])
            for addon in seeded_addons:
                twin = make_addon(ids, f"{addon['name']}-{copy}", addon["provider"]["id"], addon["region"],
                                  now)
                if is_pulsar(twin):
                    clever["storage_policies"][twin["realId"]] = default_storage_policy()
                addons.append(twin)
        statuses = INVOICE_STATUSES[index]
        clever["invoices"][owner] += [
            make_invoice(ids, owner, billing[index], age, statuses[age % len(statuses)], False, now)
            for age in range(len(statuses), len(statuses) * scale)]
    return copied


def make_user(ids, now):
    return {
        "id": ids.prefixed("user"),
        "email": "ada.lovelace@analytical.example",
        "name": "Ada Lovelace",
        "phone": "+44 20 7946 0958",
        "address": "12 St James's Square",
        "city": "London",
        "zipcode": "SW1Y 4JH",
        "country": "UNITED KINGDOM",
        "avatar": "https://www.gravatar.com/avatar/0b0e5e9b5f0d1a3d?s=200",
        "creationDate": epoch_ms(now - 912 * DAY),
        "lang": "EN",
        "emailValidated": True,
        "oauthApps": [],
        "admin": False,
        "canPay": True,
        "preferredMFA": "TOTP",
        "hasPassword": True,
        "partnerId": "2f1c1b9e-0b8a-4e8e-9d76-1d7f0f1a2b3c",
        "partnerName": "Clever Cloud SAS",
        "partnerConsoleUrl": "https://console.clever-cloud.com",
    }


def make_org(ids, spec, now):
    return {
        "id": ids.prefixed("orga"),
        "name": spec["name"],
        "description": spec["description"],
        "billingEmail": spec["billingEmail"],
        "address": spec["address"],
        "city": spec["city"],
        "zipcode": spec["zipcode"],
        "country": spec["country"],
        "company": spec["company"],
        "VAT": spec["VAT"],
        "avatar": None,
        "vatState": "VALID" if spec["VAT"] else "NOT_NEEDED",
        "customerFullName": spec["company"],
        "canPay": True,
        "cleverEnterprise": False,
        "emergencyNumber": None,
        "canSEPA": spec["alpha2"] == "FR",
        "isTrusted": True,
        "creationDate": epoch_ms(now - 700 * DAY),
    }


def make_app(ids, owner, name, variant, zone, state, description, now):
    app_id = ids.prefixed("app")
    label, slug, version = VARIANTS[variant]
    push = f"push-n3-{zone}-clevercloud-customers.services.clever-cloud.com/{app_id}.git"
    return {
        "id": app_id,
        "name": name,
        "description": description,
        "zone": zone,
        "zoneId": None,
        "instance": {
            "type": slug,
            "version": version,
            "variant": {"id": ids.uuid(), "slug": slug, "name": label, "deployType": slug,
                        "logo": f"https://assets.clever-cloud.com/logos/{slug}.svg"},
            "minInstances": 1,
            "maxInstances": 2,
            "maxAllowedInstances": 40,
            "minFlavor": flavor("XS"),
            "maxFlavor": flavor("S"),
            "flavors": [flavor(size) for size in FLAVORS],
            "defaultEnv": {},
            "lifetime": "REGULAR",
            "instanceAndVersion": f"{slug}-{version}",
        },
        "deployment": {"shutdownable": False, "type": "GIT", "repoState": "CREATED",
                       "url": f"git+ssh://git@{push}", "httpUrl": f"https://{push}"},
        "vhosts": [{"fqdn": f"{app_id.replace('_', '-')}.cleverapps.io/"}],
        "creationDate": epoch_ms(now - ids.rng.randint(30, 400) * DAY),
        "last_deploy": 3,
        "archived": False,
        "stickySessions": False,
        "homogeneous": False,
        "favourite": False,
        "cancelOnPush": False,
        "webhookUrl": None,
        "webhookSecret": None,
        "separateBuild": False,
        "buildFlavor": None,
        "ownerId": owner,
        "state": state,
        "commitId": ids.sha(),
        "appliance": None,
        "branch": "master",
        "forceHttps": "ENABLED",
        "env": [],
    }


def flavor(name):
    cpus, mem, price = FLAVORS[name]
    return {"name": name, "mem": mem, "cpus": cpus, "gpus": 0, "disk": None, "price": price,
            "available": True, "microservice": False, "machine_learning": False, "nice": 0,
            "price_id": f"apps.{name}",
            "memory": {"unit": "B", "value": mem * 1024 * 1024, "formatted": f"{mem} MiB"}}


def new_app(owner, partial, now):
    """A complete v2 application from a partial one (id and name given)."""
    app = make_app(Ids(partial["id"]), owner, partial["name"], "node", partial.get("zone", "par"),
                   "SHOULD_BE_UP", "", now)
    app.update(partial)
    return app


def make_addon(ids, name, provider_id, region, now):
    label, prefix, (slug, plan_name, price), keys = ADDON_PROVIDERS[provider_id]
    return {
        "id": ids.prefixed("addon"),
        "name": name,
        "realId": ids.prefixed(prefix),
        "region": region,
        "provider": {
            "id": provider_id, "name": label, "website": "https://www.clever-cloud.com",
            "supportEmail": "support@clever-cloud.com", "googlePlusName": "", "twitterName": "",
            "analyticsId": "", "shortDesc": f"{label} by Clever Cloud", "longDesc": f"Managed {label}",
            "logoUrl": f"https://assets.clever-cloud.com/logos/{prefix}.svg", "status": "RELEASE",
            "openInNewTab": False, "canUpgrade": True, "regions": ["par", "rbx", "mtl", "sgp"],
        },
        "plan": {"id": ids.prefixed("plan"), "name": plan_name, "slug": slug, "price": price,
                 "price_id": f"{prefix}.{slug}", "features": [], "zones": ["par", "rbx"]},
        "creationDate": epoch_ms(now - ids.rng.randint(30, 300) * DAY),
        "configKeys": keys,
    }


def make_invoice(ids, owner, billing, age, status, large, now):
    """The invoice emitted `age` months before the first of now's month; a paid
    one was paid three days after, or by now early in a month."""
    name, company, address, city, zipcode, alpha2, vat = billing
    emitted = month_start(now)
    for _ in range(age):
        emitted = month_start(emitted - DAY)
    number = f"F{emitted:%Y%m%d}-{ids.rng.randint(0, 999999):06d}"
    excluded = round(sum(amount for _, amount in invoices.line_items(number, iso(emitted), large)), 2)
    tax = round(excluded * vat / 100, 2)
    return {
        "invoice_number": number,
        "kind": "INVOICE",
        "owner_id": owner,
        "address": {
            "address_id": ids.prefixed("address"), "owner_id": owner, "name": name,
            "company": company, "address": address, "city": city, "zipcode": zipcode,
            "country_alpha2": alpha2, "vat_number": "", "vat_percent": vat,
            "customer_cost_center": "", "customer_purchase_order": "",
        },
        "emission_date": iso(emitted),
        "pay_date": iso(min(emitted + 3 * DAY, now)) if status in ("PAID", "REFUNDED") else None,
        "status": status,
        "currency": "EUR",
        "price_factor": 1.0,
        "discount": 0.0,
        "vat_percent": vat,
        "total_tax_excluded": money(excluded),
        "total_tax": money(tax),
        "category": "CONSUMPTION",
        "payment_provider": "STRIPE",
        "transaction_id": f"pi_{ids.rng.getrandbits(96):024x}" if status != "PENDING" else "",
        "customer_order_id": "",
    }


def money(amount):
    return {"currency": "EUR", "amount": amount, "amount_formatted": f"{amount:.2f}",
            "default_display": f"{amount:.2f} €"}


def make_deployments(ids, app, author, now):
    """Newest first: a success 6 h ago, a success and a failure two days ago."""
    specs = [("SUCCEEDED", now - 6 * HOUR), ("SUCCEEDED", now - 2 * DAY),
             ("FAILED", now - 2 * DAY - HOUR)]
    return [make_deployment(ids, app, author, state, start) for state, start in specs]


def make_deployment(ids, app, author, state, start):
    steps = [("QUEUED", start), ("WORK_IN_PROGRESS", start + 20 * SECOND), (state, start + 4 * MINUTE)]
    return {
        "id": ids.prefixed("deployment"),
        "ownerId": app["ownerId"],
        "applicationId": app["id"],
        "startDate": iso(start),
        "state": state,
        "steps": [{"state": name, "date": iso(date)} for name, date in steps],
        "version": {"commitId": ids.sha()},
        "origin": {"action": "DEPLOY", "cause": "GIT_PUSH", "source": "git", "authorId": author,
                   "constraints": [], "priority": "NORMAL"},
        "hasDedicatedBuild": False,
    }


INSTANCE_NAMES = ["Wandering Heron", "Brave Otter", "Quiet Lynx", "Sleepy Badger", "Eager Falcon",
                  "Curious Ibex", "Patient Moose", "Swift Marten", "Gentle Bison", "Bold Walrus",
                  "Lucky Gecko", "Noble Crane"]


def make_instances(ids, app, deployments):
    """Two UP instances of the newest deployment, one DELETED of the previous one."""
    newest, previous = deployments[0], deployments[1]
    new_start = started(newest)
    specs = [(newest, 0, "UP", new_start + 2 * MINUTE, None),
             (newest, 1, "UP", new_start + 3 * MINUTE, None),
             (previous, 0, "DELETED", started(previous) + 3 * MINUTE, new_start + 5 * MINUTE)]
    return [make_instance(ids, app, *spec) for spec in specs]


def started(deployment):
    return parse_iso(deployment["startDate"])


def make_instance(ids, app, deployment, index, state, created, deleted):
    return {
        "id": ids.prefixed("instance"),
        "ownerId": app["ownerId"],
        "applicationId": app["id"],
        "deploymentId": deployment["id"],
        "name": ids.rng.choice(INSTANCE_NAMES),
        "flavor": "XS",
        "index": index,
        "state": state,
        "creationDate": iso(created),
        "deletionDate": iso(deleted) if deleted else None,
        "network": {"ip": f"10.2.{ids.rng.randint(0, 255)}.{ids.rng.randint(2, 254)}", "port": 8080},
        "isBuildVm": False,
    }


def make_load_balancer(ids, app):
    zone = app["zone"]
    return [{
        "id": ids.prefixed("lb"),
        "name": "default",
        "zoneId": zone,
        "dns": {"cname": f"domain.{zone}.clever-cloud.com",
                "a": [f"91.208.207.{ids.rng.randint(2, 250)}", f"91.208.207.{ids.rng.randint(2, 250)}"]},
    }]


def make_zone(ids, name, country, code, city, lat, lon, tags):
    return {"id": ids.uuid(), "name": name, "country": country, "countryCode": code, "city": city,
            "displayName": city, "lat": lat, "lon": lon,
            "outboundIPs": [f"185.42.{ids.rng.randint(100, 200)}.{ids.rng.randint(1, 254)}"],
            "tags": tags}


def default_storage_policy():
    return {"retentionSizeInMB": 1024, "retentionTimeInMinutes": 1440,
            "offloadThresholdInBytes": 536870912, "offloadDeletionLagInMillis": 14400000}


# -- Clever Cloud log history ------------------------------------------------------

ACCESS_PATHS = ["/", "/api/v1/items", "/api/v1/items/42", "/health", "/login", "/static/app.js"]
BUILD_LINES = ["Cloning repository...", "Checking out commit {commit}", "Installing dependencies",
               "Dependencies installed in 38s", "Running build command", "Build succeeded",
               "Starting application", "Application started, waiting for health check"]
SEVERITIES = {"info": 6, "notice": 5, "warning": 4, "err": 3}
LOG_ID_WIDTH = 20


def log_history(ids, clever, now, drawn_last=()):
    """~40 APPLICATION_LOG events per app over the last day, ids in date order,
    the next id and the newest event's date. The applications of drawn_last
    draw theirs after the others, whose events then stay the same with or
    without them."""
    raw = []
    apps = [app for apps in clever["applications"].values() for app in apps]
    apps.sort(key=lambda app: app["id"] in drawn_last)
    for app in apps:
        raw += app_log_events(ids, app, clever["deployments"][app["id"]],
                              clever["instances"][app["id"]], now)
    raw.sort(key=lambda event: event["date"])
    logs = {app["id"]: [] for apps in clever["applications"].values() for app in apps}
    for number, event in enumerate(raw, 1):
        event["id"] = format_log_id(number)
        logs[event["applicationId"]].append(event)
    return logs, len(raw) + 1, parse_iso(raw[-1]["date"])


def format_log_id(number):
    return f"{number:0{LOG_ID_WIDTH}d}"


def app_log_events(ids, app, deployments, instances, now):
    rng = ids.rng
    up, down = [i for i in instances if i["state"] == "UP"], instances[2]
    switch = started(deployments[0])
    start = now - DAY
    events = []
    for minute in sorted(rng.sample(range((switch - start) // MINUTE - 1), 14)):
        events.append(access_log(rng, app, down, start + minute * MINUTE))
    for step, line in enumerate(BUILD_LINES):
        message = line.format(commit=deployments[0]["version"]["commitId"])
        events.append(log_event(app, up[0], "bas-deploy", "notice", message, switch + step * 15 * SECOND))
    events.append(log_event(app, down, "bas", "info", "Stopping instance: replaced by a new deployment",
                            switch + 5 * MINUTE))
    for minute in sorted(rng.sample(range(6, 6 * 60 - 1), 15)):
        events.append(access_log(rng, app, up[minute % 2], switch + minute * MINUTE))
    events.append(log_event(app, up[0], "app", "err",
                            "Error: connect ECONNREFUSED 10.2.0.9:5432\n    at TCPConnectWrap.afterConnect",
                            switch + 61 * MINUTE + 5 * SECOND))
    events.append(log_event(app, up[1], "app", "warning", "slow query\tduration=1532ms\ttable=items",
                            switch + 122 * MINUTE))
    events.append(log_event(app, up[1], "bas", "info", "Health check OK", now - 3 * MINUTE))
    return events


def access_log(rng, app, instance, date):
    path, status = rng.choice(ACCESS_PATHS), rng.choice([200, 200, 200, 200, 304, 404, 500])
    severity = "err" if status >= 500 else "info"
    message = (f'10.2.{rng.randint(0, 9)}.{rng.randint(2, 254)} - - "GET {path} HTTP/1.1" {status} '
               f'{rng.randint(120, 9000)} "-" "Mozilla/5.0"')
    return log_event(app, instance, "app", severity, message, date + rng.randint(0, 59999) * SECOND / 1000)


def log_event(app, instance, service, severity, message, date):
    """An APPLICATION_LOG event (its id is given once all events are sorted)."""
    return {
        "id": None,
        "applicationId": app["id"],
        "deploymentId": instance["deploymentId"],
        "instanceId": instance["id"],
        "date": iso(date, millis=True),
        "zone": app["zone"],
        "region": app["zone"],
        "pid": 1000 + instance["index"] * 17 + (0 if service == "app" else 3),
        "facility": "user" if service == "app" else "daemon",
        "severity": severity,
        "priority": SEVERITIES.get(severity, 6),
        "service": service,
        "message": message,
        "commitId": app["commitId"],
        "version": "1",
    }


def new_log_event(app, instances, partial, number, date):
    """A complete APPLICATION_LOG event from a partial one (message given)."""
    live = [i for i in instances if i["state"] != "DELETED"] or instances
    placeholder = {"id": None, "deploymentId": None, "index": 0}
    event = log_event(app, live[0] if live else placeholder, partial.get("service", "app"),
                      partial.get("severity", "info"), partial["message"], date)
    event["id"] = format_log_id(number)
    event.update(partial)
    return event


# -- UpCloud -----------------------------------------------------------------------

ACCESS_ALL = {
    "network_access": {"network": ["*"]},
    "server_access": {"server": [{"storage": "yes", "uuid": "*"}]},
    "storage_access": {"storage": ["*"]},
    "tag_access": {"tag": []},
    "ip_filters": {"ip_filter": []},
}

# username, first, last, phone, email, timezone, language, roles, labels, allow_api, allow_gui, extra
ACCOUNTS = [
    ("acme_main", "Maria", "Virtanen", "+358.401234567", "admin@acme.example", "Europe/Helsinki", "en",
     ["billing", "technical"], [], "yes", "yes", {}),
    ("acme_dev", "Dev", "Koskinen", "+358.402345678", "dev@acme.example", "Europe/Helsinki", "en",
     ["technical"], [("env", "dev"), ("team", "core")], "yes", "no",
     {"server_access": {"server": [{"storage": "yes", "uuid": "0026d4b2-3a1f-4c6e-9b1d-5e8f7a6c4d21"}]},
      "tag_access": {"tag": [{"name": "dev", "storage": "yes"}]}}),
    ("acme_billing", "Liisa", "Nieminen", "+358.403456789", "billing@acme.example", "Europe/Stockholm",
     "fi", ["billing"], [("team", "finance")], "no", "yes",
     {"server_access": {"server": []}, "storage_access": {"storage": []}, "network_access": {"network": []}}),
    ("acme_ops", "Olli", "Mäkinen", "+358.404567890", "ops@acme.example", "UTC", "en",
     ["technical", "aux_billing"], [("env", "prod"), ("team", "core")], "yes", "yes",
     {"ip_filters": {"ip_filter": ["203.0.113.0/24", "198.51.100.10"]}}),
    ("acme_temp", "Tero", "Laine", "+358.405678901", "temp@acme.example", "Europe/Helsinki", "en",
     [], [("to_be_removed", "after 2022-31-12")], "no", "no",
     {"server_access": {"server": [{"storage": "no", "uuid": "*"}]}}),
]

ACCOUNT_INFO = {
    "credits": 9972.2324,
    "username": "acme_main",
    "resource_limits": {
        "cores": 200, "detached_floating_ips": 10, "load_balancers": 50, "managed_databases": 100,
        "managed_kubernetes": 100, "managed_object_storages": 100, "memory": 1048576,
        "network_gateways": 100, "network_peerings": 100, "networks": 100, "ntp_excess_gib": 20000,
        "public_ipv4": 100, "public_ipv6": 100, "routers": 100, "storage_hdd": 10240,
        "storage_maxiops": 10240, "storage_standard": 10240, "storage_total": 30720,
    },
}


def upcloud_data(fleet_size, scale):
    details = {}
    copies = [copied_account(spec, copy) for copy in range(2, scale + 1) for spec in ACCOUNTS[1:]]
    for spec in ACCOUNTS + copies + [fleet_account(number) for number in range(1, fleet_size + 1)]:
        account = make_account(*spec)
        details[account["username"]] = account
    passwords = {name: f"{name}-secret-1" for name in details if name != "acme_main"}
    return {"account": dict(ACCOUNT_INFO), "details": details}, passwords


def fleet_account(number):
    """The ACCOUNTS row of a generated subaccount."""
    return (f"fleet_{number:05d}", "Fleet", f"User {number}", f"+358.40{number:07d}",
            f"fleet{number}@acme.example", "UTC", "en", ["technical"], [("team", "fleet")], "yes", "no", {})


def copied_account(spec, copy):
    """The ACCOUNTS row of copy number `copy` of a seeded subaccount."""
    username, first, last, phone, email, tz, language, roles, labels, api, gui, extra = spec
    local, _, domain = email.partition("@")
    return (f"{username}_{copy}", first, f"{last} {copy}", phone, f"{local}+{copy}@{domain}", tz, language,
            roles, [(key, f"{value}-{copy}") for key, value in labels], api, gui, extra)


def make_account(username, first, last, phone, email, tz, language, roles, labels, api, gui, extra):
    main = username == "acme_main"
    account = {} if main else {"main_account": "acme_main"}
    account.update({
        "type": "main" if main else "sub",
        "username": username,
        "first_name": first,
        "last_name": last,
        "company": "Acme Oy",
        "address": "Mannerheimintie 12 B",
        "postal_code": "00100",
        "city": "Helsinki",
        "state": "",
        "country": "FIN",
        "currency": "EUR",
        "language": language,
        "phone": phone,
        "email": email,
        "vat_number": "FI24315605",
        "timezone": tz,
        "campaigns": {"campaign": []},
        "roles": {"role": list(roles)},
        "allow_api": api,
        "allow_gui": gui,
        "enable_3rd_party_services": "yes",
    })
    account.update(ACCESS_ALL)
    account.update(extra)
    account["labels"] = [{"key": key, "value": value} for key, value in labels]
    return account


def new_subaccount(fields):
    """Details of a subaccount created from a validated sub_account body."""
    account = make_account(fields["username"], "", "", "", "", "UTC", "en", [], [], "yes", "yes", {})
    account.update({"company": "", "address": "", "postal_code": "", "city": "", "vat_number": ""})
    account.update({key: value for key, value in fields.items() if key != "password"})
    return account
