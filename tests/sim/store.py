"""The mutable dataset: seed data plus what writes and mutate ops changed.

One lock guards it; the server holds it around every (non-streaming) handler and the
control API around every mutation, so handlers read and write plain dicts. Lookups
return None when an id is unknown; callers turn that into their provider's 404.
"""

import threading

import seed

APP_TABLES = ("deployments", "instances", "load_balancers", "logs")  # keyed by app id


class Store:
    def __init__(self, now, fleet):
        self.now = now
        self.fleet = fleet  # what every reset generates unless it is told otherwise
        self.lock = threading.RLock()
        self.reset()

    def reset(self, fleet=None):
        with self.lock:
            data = seed.build(self.now, fleet or self.fleet)
            self.clever = data.clever
            self.upcloud = data.upcloud
            self.passwords = data.passwords
            self.large_invoice = data.large_invoice
            self.next_log_id = data.next_log_id
            self.logs_end = data.logs_end
            self.live_logs = 0  # events added since the seed (logs.py dates them)

    # -- Clever Cloud lookups ---------------------------------------------------------

    def is_owner(self, owner):
        return owner in self.clever["applications"]

    def org(self, org_id):
        return next((o for o in self.clever["organisations"] if o["id"] == org_id), None)

    def apps(self, owner):
        return self.clever["applications"].get(owner)

    def app(self, owner, app_id):
        return next((a for a in self.apps(owner) or [] if a["id"] == app_id), None)

    def addon(self, owner, addon_id):
        return next((a for a in self.clever["addons"].get(owner) or [] if a["id"] == addon_id), None)

    def invoice(self, owner, number):
        return next((i for i in self.clever["invoices"].get(owner) or [] if i["invoice_number"] == number), None)

    # -- Clever Cloud mutations ---------------------------------------------------------

    def add_app(self, owner, app):
        self.clever["applications"][owner].append(app)
        for table in APP_TABLES:
            self.clever[table][app["id"]] = []

    def delete_app(self, owner, app):
        self.clever["applications"][owner].remove(app)
        for table in APP_TABLES:
            del self.clever[table][app["id"]]

    def take_log_id(self):
        number = self.next_log_id
        self.next_log_id += 1
        self.live_logs += 1
        return number
