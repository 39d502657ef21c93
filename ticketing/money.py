"""Money as people read it: Babel's locale formatting and English words for confirmations.

Amounts are integer minor units everywhere in the code and the database; this is the one
place they become text for a person (an admin confirmation, a cap in an error message, an
audit entry). Hand-written formatting gets the locale details wrong (``2.870,00 €`` in
sl-SI, ``€2,870.00`` in en-GB), so Babel's CLDR data decides; the words come from num2words,
so "one thousand two hundred and fifty euro" is never typed by hand either.
"""
from decimal import Decimal

from babel.core import Locale, UnknownLocaleError
from babel.numbers import format_currency, get_currency_precision
from num2words import num2words

DEFAULT_LOCALE = "sl_SI"


def locale_of(settings):
    """The federation's locale (setting ``ticketing.locale``, a Babel/CLDR name such as
    ``sl_SI``; ticketing/settings.py checks it at start-up)."""
    name = (settings.get("ticketing.locale") or DEFAULT_LOCALE).replace("-", "_")
    try:
        return Locale.parse(name)
    except (UnknownLocaleError, ValueError):
        return Locale.parse(DEFAULT_LOCALE)


def major_units(minor, currency):
    """12345 EUR -> Decimal('123.45'): the currency's own number of decimals (JPY has none)."""
    digits = get_currency_precision(currency)
    return Decimal(int(minor)).scaleb(-digits)


def format_money(minor, currency, locale=DEFAULT_LOCALE):
    """12345, "EUR", sl_SI -> "123,45 €"."""
    return format_currency(major_units(minor, currency), currency, locale=locale)


def money_in_words(minor, currency):
    """12345, "EUR" -> "one hundred and twenty-three euro, forty-five cents" (English).

    English is what every staff member reads at the confirmation step; num2words knows the
    unit names of the common currencies and falls back to the code for the rest."""
    amount = major_units(minor, currency)
    try:
        return num2words(amount, lang="en", to="currency", currency=currency)
    except NotImplementedError:
        return f"{num2words(amount, lang='en')} {currency}"


def audit_amount(minor, currency):
    """For the audit log's details: the amount as money ("1250.00"), never minor units."""
    return {"amount": str(major_units(minor, currency)), "currency": currency}
