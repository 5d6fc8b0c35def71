"""API for accounts: tokens, me, the organisation, departments and members. Services do the writes."""

from __future__ import annotations

from django.contrib.auth import authenticate
from django.contrib.auth.signals import user_login_failed
from django.db import transaction
from django_otp import match_token
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import exceptions, mixins, serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import services
from accounts.models import Department, Membership, Organisation
from accounts.roles import Capability, Role
from smm.api import IsMember, OrgScopedViewSet, membership_of


# --------------------------------------------------------------------------------------------- tokens
class TokenRequestSerializer(serializers.Serializer):
    email = serializers.EmailField()
    password = serializers.CharField(trim_whitespace=False, max_length=4096)
    otp = serializers.CharField(required=False, allow_blank=True, max_length=32)
    organisation = serializers.SlugField(required=False, help_text="Slug of the organisation to act in.")


class AuthTokenView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    def get_authenticate_header(self, request):
        # No authenticator runs here, so DRF would turn a refused sign-in into a 403; it is a 401.
        return "Token"

    @extend_schema(
        request=TokenRequestSerializer,
        responses={201: inline_serializer("TokenResponse", {"token": serializers.CharField(), "organisation": serializers.CharField()})},
        summary="Exchange e-mail, password and (with two-factor) a one-time code for an API token.",
    )
    def post(self, request):
        data = TokenRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        email, password = data.validated_data["email"], data.validated_data["password"]
        django_request = request._request
        user = authenticate(django_request, username=email, password=password)
        if getattr(django_request, "axes_locked_out", False):
            raise exceptions.Throttled(detail="Too many failed sign-ins. Try again later.")
        if user is None:
            raise exceptions.AuthenticationFailed("E-mail address or password is not right.")
        device = None
        if services.confirmed_totp(user) is not None:
            device = match_token(user, (data.validated_data.get("otp") or "").replace(" ", ""))
            if device is None:
                user_login_failed.send(
                    sender=__name__, credentials={"username": email, "reason": "bad one-time code"}, request=django_request
                )
                raise exceptions.AuthenticationFailed("A valid one-time code (otp) is required for this account.")
        memberships = Membership.objects.active().select_related("organisation", "user").filter(user=user)
        slug = data.validated_data.get("organisation")
        membership = (memberships.filter(organisation__slug=slug) if slug else memberships.order_by("organisation__name")).first()
        if membership is None:
            raise exceptions.PermissionDenied("You are not an active member of that organisation.")
        if membership.requires_two_factor() and services.confirmed_totp(user) is None:
            raise exceptions.PermissionDenied("Your organisation requires two-factor authentication: enrol in the browser first.")
        raw = services.api_token_create(membership=membership, otp_device=device)
        return Response({"token": raw, "organisation": membership.organisation.slug}, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={204: None}, summary="Revoke the token used for this call.")
    def delete(self, request):
        from accounts.authentication import ApiTokenAuthentication

        result = ApiTokenAuthentication().authenticate(request)
        if result is None:
            raise exceptions.NotAuthenticated("Send the token to revoke in the Authorization header.")
        services.api_token_revoke(token=result[1])
        return Response(status=status.HTTP_204_NO_CONTENT)


# ------------------------------------------------------------------------------------------------- me
class DepartmentBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Department
        fields = ["id", "name"]


class OrganisationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Organisation
        fields = ["id", "name", "slug", "timezone", "two_factor_policy", "idle_timeout_minutes"]
        read_only_fields = ["id", "slug"]
        # The model's check constraint (5–720) would otherwise surface as an unnamed "__all__" error.
        extra_kwargs = {"idle_timeout_minutes": {"min_value": 5, "max_value": 720}}


class MeView(APIView):
    permission_classes = [IsMember]

    @extend_schema(
        responses=inline_serializer(
            "Me",
            {
                "id": serializers.IntegerField(),
                "email": serializers.EmailField(),
                "full_name": serializers.CharField(),
                "organisation": OrganisationSerializer(),
                "role": serializers.ChoiceField(choices=Role.choices),
                "departments": DepartmentBriefSerializer(many=True),
                "capabilities": serializers.ListField(child=serializers.CharField()),
                "two_factor_enabled": serializers.BooleanField(),
                "organisations": serializers.ListField(child=serializers.DictField()),
            },
        )
    )
    def get(self, request):
        membership = membership_of(request)
        user = request.user
        others = Membership.objects.active().filter(user=user).select_related("organisation")
        return Response(
            {
                "id": user.pk,
                "email": user.email,
                "full_name": user.full_name,
                "organisation": OrganisationSerializer(membership.organisation).data,
                "role": membership.role,
                "departments": DepartmentBriefSerializer(membership.departments.active(), many=True).data,
                "capabilities": [c.value for c in Capability if membership.can(c)],
                "two_factor_enabled": services.confirmed_totp(user) is not None,
                "organisations": [
                    {"slug": m.organisation.slug, "name": m.organisation.name, "role": m.role} for m in others
                ],
            }
        )


class OrganisationView(APIView):
    permission_classes = [IsMember]

    @extend_schema(responses=OrganisationSerializer)
    def get(self, request):
        return Response(OrganisationSerializer(membership_of(request).organisation).data)

    @extend_schema(request=OrganisationSerializer, responses=OrganisationSerializer)
    def patch(self, request):
        membership = membership_of(request)
        if not membership.can(Capability.MANAGE_ORGANISATION):
            raise exceptions.PermissionDenied("Your role does not allow this.")
        serializer = OrganisationSerializer(membership.organisation, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        organisation = services.organisation_update_settings(actor=membership, data=dict(serializer.validated_data))
        return Response(OrganisationSerializer(organisation).data)


# ---------------------------------------------------------------------------------------- departments
class DepartmentSerializer(serializers.ModelSerializer):
    archived = serializers.BooleanField(required=False)

    class Meta:
        model = Department
        fields = ["id", "name", "archived", "created_at"]
        read_only_fields = ["id", "created_at"]

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["archived"] = instance.is_archived
        return data


class DepartmentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrgScopedViewSet):
    model = Department
    serializer_class = DepartmentSerializer
    capabilities = {"create": Capability.MANAGE_DEPARTMENTS, "partial_update": Capability.MANAGE_DEPARTMENTS}
    http_method_names = ["get", "post", "patch", "head", "options"]

    def create(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        department = services.department_create(actor=self.membership, name=serializer.validated_data["name"])
        return Response(self.get_serializer(department).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        department = self.get_object()
        serializer = self.get_serializer(department, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        # One PATCH is one change: a refused restore must not leave the rename applied.
        with transaction.atomic():
            if "name" in serializer.validated_data:
                department = services.department_rename(
                    actor=self.membership, department=department, name=serializer.validated_data["name"]
                )
            if "archived" in serializer.validated_data:
                department = services.department_set_archived(
                    actor=self.membership, department=department, archived=serializer.validated_data["archived"]
                )
        return Response(self.get_serializer(department).data)


# -------------------------------------------------------------------------------------------- members
class MemberSerializer(serializers.ModelSerializer):
    email = serializers.EmailField(source="user.email", read_only=True)
    full_name = serializers.CharField(source="user.full_name", read_only=True)
    departments = serializers.PrimaryKeyRelatedField(many=True, queryset=Department.objects.none(), required=False)

    class Meta:
        model = Membership
        fields = ["id", "email", "full_name", "role", "departments", "is_active", "created_at"]
        read_only_fields = ["id", "email", "full_name", "created_at"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        membership = self.context.get("membership")
        # Choices narrowed to the organisation: another organisation's department id is "does not exist".
        # Archived ones stay in the queryset so a member's list can be sent back as read; the service
        # refuses an archived department the member does not already have.
        self.fields["departments"].child_relation.queryset = Department.objects.visible_to(membership)


class MemberViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrgScopedViewSet):
    model = Membership
    serializer_class = MemberSerializer
    capabilities = {"partial_update": Capability.MANAGE_MEMBERS}
    http_method_names = ["get", "patch", "head", "options"]

    def get_queryset(self):
        return super().get_queryset().for_member_list()

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "membership": self.membership}

    def partial_update(self, request, pk=None):
        member = self.get_object()
        serializer = self.get_serializer(member, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        # One PATCH is one change, one audit event: role, departments and active state in one service call
        # (a part not sent is left as it is), so a refused deactivation leaves no role change applied either.
        member = services.member_update(
            actor=self.membership,
            membership=member,
            role=data.get("role"),
            departments=data.get("departments"),
            active=data.get("is_active"),
        )
        return Response(self.get_serializer(self.get_queryset().get(pk=member.pk)).data)

