from django.apps import AppConfig


class FollowupConfig(AppConfig):
    name = "registry.followup"
    label = "followup"
