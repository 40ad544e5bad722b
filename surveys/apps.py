from django.apps import AppConfig


class SurveysConfig(AppConfig):
    name = "surveys"

    def ready(self) -> None:
        # The email provider's webhooks (django-anymail) announce bounces, complaints and inbound mail
        # through signals: an integration boundary, and the only signal receivers in the app.
        from anymail.signals import inbound, tracking
        from django.core import checks

        from cxfeedback.webhook_secrets import webhook_secrets_check
        from surveys.public.webhooks import email_inbound_received, email_tracking_received

        tracking.connect(email_tracking_received, dispatch_uid="surveys.email_tracking_received")
        inbound.connect(email_inbound_received, dispatch_uid="surveys.email_inbound_received")
        # `check --deploy`: no webhook on without its secret (settings.py refuses to start outside DEBUG).
        checks.register(webhook_secrets_check, checks.Tags.security, deploy=True)
