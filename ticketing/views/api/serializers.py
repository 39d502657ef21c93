"""Turn rows into the JSON shapes documented in the OpenAPI file (one function per shape)."""


def user_json(user):
    return {
        "id": user.id,
        "email": user.email,
        "full_name": user.full_name,
        "role": user.role,
        "created_at": user.created_at,
    }
