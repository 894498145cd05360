"""``python manage.py rotate_secrets_key``: re-encrypt every stored secret under the first key of
PIXELL_SECRETS_KEY (docs/OPERATIONS.md "Key rotation")."""

from django.core.management.base import BaseCommand, CommandError

from pixell import crypto


class Command(BaseCommand):
    help = (
        "Re-encrypt app secrets, webhook secrets and stored deploy environments under the first "
        "key of PIXELL_SECRETS_KEY (new,old). Batched and resumable: values already under the "
        "first key are skipped."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=500, help="rows per transaction")
        parser.add_argument(
            "--dry-run", action="store_true", help="count what would be re-encrypted; write nothing"
        )

    def handle(self, *args, batch_size, dry_run, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        keys = crypto.configured_key_ids()
        self.stdout.write(
            f"Secrets keys: {', '.join(keys)} (new values under {keys[0]})"
            + (" — dry run, nothing is written" if dry_run else "")
        )
        stuck = 0
        for column in crypto.encrypted_columns():
            result = crypto.column_reencrypt(column, batch_size=batch_size, dry_run=dry_run)
            verb = "would re-encrypt" if dry_run else "re-encrypted"
            line = (
                f"{result.label}: {verb} {result.reencrypted}, "
                f"{result.already_current} already under {keys[0]}"
            )
            if result.changed_meanwhile:
                line += f", {result.changed_meanwhile} rewritten meanwhile (left as written)"
            self.stdout.write(line)
            if result.undecryptable:
                stuck += len(result.undecryptable)
                shown = ", ".join(str(pk) for pk in result.undecryptable[:20])
                more = " …" if len(result.undecryptable) > 20 else ""
                self.stderr.write(
                    f"{result.label}: {len(result.undecryptable)} cannot be decrypted with any "
                    f"listed key (ids: {shown}{more})"
                )
        if stuck:
            raise CommandError(
                f"{stuck} stored value(s) cannot be decrypted with any key in PIXELL_SECRETS_KEY: "
                "add the key they were written under and run again, or set those secrets anew"
            )
        self.stdout.write(self.style.SUCCESS("Done." if not dry_run else "Dry run done."))
