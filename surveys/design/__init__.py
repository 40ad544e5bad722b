"""Building surveys: questions checked the same way from the admin and the API, versions, templates."""
