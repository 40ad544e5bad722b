"""Brute-force lockout on the admin login, through django-axes (settings: AXES_*)."""

from axes.backends import AxesStandaloneBackend


class LoginLockoutBackend(AxesStandaloneBackend):
    """Axes' lockout for logins that come over the web.

    Axes refuses an authenticate() call without a request; such calls come from code on the server
    (a management command, a test's Client.login), where there is no client to lock out, so they
    pass on to the next backend unchecked. The admin's login form always passes its request.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
