from django.apps import AppConfig


class SurveysConfig(AppConfig):
    name = "surveys"

    def ready(self) -> None:
        # The email provider's webhooks (django-anymail) announce bounces, complaints and inbound mail
        # through signals: an integration boundary, and the only signal receivers in the app.
        from anymail.signals import inbound, tracking

        from surveys.public.webhooks import email_inbound_received, email_tracking_received

        tracking.connect(email_tracking_received, dispatch_uid="surveys.email_tracking_received")
        inbound.connect(email_inbound_received, dispatch_uid="surveys.email_inbound_received")
