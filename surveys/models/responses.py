"""Responses: a customer's answers to one invitation, exactly one response per invitation."""

from django.contrib.postgres.indexes import BrinIndex
from django.db import models

from contacts.models import Channel, Contact
from departments.models import Department
from surveys.models.delivery import Invitation
from surveys.models.design import Question, Survey


class Response(models.Model):
    """One customer's answers to one invitation. The one-to-one on `invitation` is the database's
    promise of "exactly one response per invitation" (PRODUCT.md §3); the service that stores a
    response also locks the invitation, so a double submit is refused before it reaches the
    constraint. Survey, contact, department and channel are copied from the invitation so results
    read one table."""

    invitation = models.OneToOneField(Invitation, on_delete=models.CASCADE, related_name="response")
    # Indexed by the composite indexes below, each led by the column.
    survey = models.ForeignKey(Survey, on_delete=models.PROTECT, related_name="responses", db_index=False)
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="responses", db_index=False)
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="+", db_index=False)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    # The language the survey page was shown in, e.g. "de".
    locale = models.CharField(max_length=16, blank=True)
    submitted_at = models.DateTimeField()

    class Meta:
        ordering = ["-submitted_at", "-pk"]
        indexes = [
            # Results by department and period (the dashboard, a department owner's own results).
            models.Index(fields=["department", "submitted_at"], name="response_department_time"),
            # Results of one survey by period.
            models.Index(fields=["survey", "submitted_at"], name="response_survey_time"),
            # A contact's timeline: every answer across departments.
            models.Index(fields=["contact", "submitted_at"], name="response_contact_time"),
            # Every department's responses of a period (the results dashboard reads today's, after the
            # daily rollups). Responses are written in time order, which is what BRIN needs.
            BrinIndex(fields=["submitted_at"], name="response_submitted_brin"),
        ]

    def __str__(self) -> str:
        return f"Response to invitation #{self.invitation_id}"


class Answer(models.Model):
    """The answer to one question. Scales (NPS, CSAT, CES, rating) fill `value_number`, free text
    `value_text`, single and multiple choice `value_choices` (a list with one item for a single
    choice). An optional question left unanswered has no Answer."""

    # Indexed by the unique constraint, which it leads.
    response = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="answers", db_index=False)
    # Indexed: results aggregate per question.
    question = models.ForeignKey(Question, on_delete=models.PROTECT, related_name="answers")
    value_number = models.IntegerField(null=True, blank=True)
    value_text = models.TextField(blank=True)
    value_choices = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["response", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["response", "question"], name="answer_one_per_question"),
        ]

    def __str__(self) -> str:
        if self.value_number is not None:
            return str(self.value_number)
        return self.value_text or ", ".join(self.value_choices)
