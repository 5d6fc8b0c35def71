"""DRF authentication by `Authorization: Token <token>`; the token names one user in one organisation."""

from __future__ import annotations

from rest_framework import authentication, exceptions

from accounts import services
from accounts.models import ApiToken, Membership, token_digest


class ApiTokenAuthentication(authentication.TokenAuthentication):
    keyword = "Token"

    def authenticate_credentials(self, key: str):
        token = (
            ApiToken.objects.select_related("user", "organisation")
            .filter(digest=token_digest(key))
            .first()
        )
        if token is None or not token.user.is_active:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        membership = (
            Membership.objects.active()
            .select_related("organisation", "user")
            .filter(user=token.user, organisation=token.organisation)
            .first()
        )
        if membership is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        services.api_token_touch(token)
        # The token, as DRF's request.auth, carries the organisation the call acts in.
        token.membership = membership
        return token.user, token
