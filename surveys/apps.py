from django.apps import AppConfig


class SurveysConfig(AppConfig):
    name = "surveys"

    def ready(self) -> None:
        # The email provider's webhooks (django-anymail) announce bounces and complaints through a
        # signal: an integration boundary, and the only signal receiver in the app.
        from anymail.signals import tracking

        from surveys.webhooks import email_tracking_received

        tracking.connect(email_tracking_received, dispatch_uid="surveys.email_tracking_received")
