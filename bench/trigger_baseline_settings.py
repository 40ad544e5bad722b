"""Settings of the trigger benchmark's baseline: a bare DRF view on the same database and gunicorn.

Not part of the app: bench/bench_trigger.py starts a second gunicorn with
DJANGO_SETTINGS_MODULE=bench.trigger_baseline_settings, so the trigger's figures can be read against
what this machine serves for the least a decision needs (bench/trigger_baseline_urls.py). The
database settings are the app's own (DATABASE_URL, DB_CONN_MAX_AGE, DB_SERVER_SIDE_BINDING …), read
the same way; nothing else of the app is loaded: no apps but DRF's, one middleware.
"""

import os

import dj_database_url

DEBUG = False
SECRET_KEY = os.environ["SECRET_KEY"]
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "rest_framework"]
# Only what sets Content-Length: without it gunicorn answers chunked, which the bench's clients do not read.
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
ROOT_URLCONF = "bench.trigger_baseline_urls"
USE_TZ = True
TIME_ZONE = "UTC"

DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"])}
DATABASES["default"]["CONN_MAX_AGE"] = int(os.environ.get("DB_CONN_MAX_AGE", "0"))
DATABASES["default"]["OPTIONS"] = {
    "prepare_threshold": 5,
    "server_side_binding": os.environ.get("DB_SERVER_SIDE_BINDING", "false") == "true",
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "DEFAULT_THROTTLE_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
}
