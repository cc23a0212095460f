"""syncd: two-way sync between Intigriti submissions and Jira issues."""

__version__ = "0.1.0"
