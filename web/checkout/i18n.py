"""Languages of the citizen pages, level 1 and the dashboard: Italian (default), English and
German, gettext domain ``payhub``.

The language is chosen with ``?lang=it|en|de`` (kept in the session), else from the browser's
Accept-Language. Catalogues live in ``web/checkout/locale`` (Babel: ``make`` targets are in the
README's "Citizen checkout" section).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from pyramid.i18n import TranslationString, TranslationStringFactory

from hub.values import errors_text

DOMAIN = "payhub"
LANGUAGES = ("it", "en", "de")  # German for Alto Adige/Südtirol (issue 16)
DEFAULT = "it"

_ = TranslationStringFactory(DOMAIN)


def choose_language(request: Any) -> str:
    asked = request.GET.get("lang")
    if asked in LANGUAGES:
        request.session["lang"] = asked
        return asked
    kept = request.session.get("lang")
    if kept in LANGUAGES:
        return kept
    return request.accept_language.lookup(LANGUAGES, default=DEFAULT)


def localized(view: Callable[..., Any]) -> Callable[..., Any]:
    """View decorator: set the request's locale before anything is translated."""

    @functools.wraps(view)
    def wrapper(context: Any, request: Any) -> Any:
        request._LOCALE_ = choose_language(request)
        return view(context, request)

    return wrapper


def translate(request: Any, message: Any, **mapping: Any) -> str:
    return request.localizer.translate(_(message, mapping=mapping) if mapping else _(message))


def validation_message(request: Any, label: Any, error: Any) -> str:
    """One pydantic error (a dict of ``ValidationError.errors()``) as a sentence in the
    request's language naming the field by ``label`` (a string or a TranslationString): the
    sentences of ``hub.values.errors_text``, through the catalogues."""
    message, values = errors_text.sentence(error)
    localizer = request.localizer
    translated = localizer.translate(TranslationString(message, domain=DOMAIN))
    name = localizer.translate(label) if isinstance(label, TranslationString) else str(label)
    return errors_text.render(translated, {**values, "field": name})
