from django.core.management.base import BaseCommand, CommandError

from billing.selectors import ledger_drift


class Command(BaseCommand):
    help = "Verify that every organization's balance equals the sum of its ledger rows."

    def handle(self, *args, **options):
        drift = ledger_drift()
        for org, balance, total in drift:
            self.stderr.write(
                f"DRIFT {org.id} {org.name!r}: balance {balance} != ledger sum {total}"
            )
        if drift:
            raise CommandError(f"{len(drift)} organization(s) out of balance")
        self.stdout.write(
            self.style.SUCCESS("Ledger OK: every balance equals the sum of its rows.")
        )
