"""The customer's side: the survey pages, answers (responses.py), the preference centre and one-click
unsubscribe (preferences.py), and the providers' webhooks (bounces, complaints, SMS STOP)."""
