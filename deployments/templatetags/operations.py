from django import template

from deployments.operations import operations_overview

register = template.Library()


@register.simple_tag
def pixell_operations_overview():
    return operations_overview()
