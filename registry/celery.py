import os

from celery import Celery
from celery.signals import after_setup_logger, after_setup_task_logger

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "registry.settings")

app = Celery("registry")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@after_setup_logger.connect
@after_setup_task_logger.connect
def redact_worker_logs(logger, **kwargs):
    # The worker replaces Django's handlers with its own: they get the token filter too.
    from registry.core.logredact import RedactTokensFilter

    for handler in logger.handlers:
        handler.addFilter(RedactTokensFilter())
