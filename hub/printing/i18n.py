"""The words of a notice in Italian, German and English, and the language variants offered.

pagoPA's notice model is Italian, or bilingual with Italian first (German for South Tyrol,
English for foreign debtors): ``text(key, variant)`` gives one string per language of the
variant, Italian first.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

VARIANTS: dict[str, tuple[str, ...]] = {"it": ("it",), "it-de": ("it", "de"), "it-en": ("it", "en")}

TEXTS: dict[str, dict[str, str]] = {
    "title": {"it": "AVVISO DI PAGAMENTO", "de": "ZAHLUNGSMITTEILUNG", "en": "PAYMENT NOTICE"},
    "creditor": {"it": "ENTE CREDITORE", "de": "GLÄUBIGERKÖRPERSCHAFT", "en": "CREDITOR ENTITY"},
    "debtor": {
        "it": "DESTINATARIO AVVISO",
        "de": "EMPFÄNGER DER MITTEILUNG",
        "en": "NOTICE RECIPIENT",
    },
    "fiscal_code": {"it": "Cod. Fiscale", "de": "Steuernummer", "en": "Tax code"},
    "how_much": {
        "it": "QUANTO E QUANDO PAGARE?",
        "de": "WIE VIEL UND WANN ZAHLEN?",
        "en": "HOW MUCH AND WHEN TO PAY?",
    },
    "by": {"it": "entro il", "de": "bis zum", "en": "by"},
    "instalment": {
        "it": "Rata {n} di {m}",
        "de": "Rate {n} von {m}",
        "en": "Instalment {n} of {m}",
    },
    "full": {
        "it": "Unica rata (pagamento in un'unica soluzione)",
        "de": "Einmalzahlung (gesamter Betrag)",
        "en": "Single payment (pay in full)",
    },
    "plan": {
        "it": "Puoi pagare in un'unica soluzione o in {m} rate: le trovi nelle pagine seguenti.",
        "de": "Sie können den gesamten Betrag auf einmal oder in {m} Raten zahlen: "
        "diese finden Sie auf den folgenden Seiten.",
        "en": "You can pay in full or in {m} instalments: they are on the following pages.",
    },
    "amount_note": {
        "it": "L'importo è aggiornato automaticamente dal sistema e potrebbe subire variazioni "
        "per eventuali sgravi, note di credito, indennità di mora, sanzioni, interessi o "
        "costi di notifica. "
        "Un operatore, il sito o l'app che userai potrebbero chiederti una cifra diversa "
        "da quella qui indicata.",
        "de": "Der Betrag wird vom System automatisch aktualisiert und kann sich durch "
        "Ermäßigungen, Gutschriften, Verzugszinsen, Strafen oder Zustellungskosten ändern. "
        "Der Schalter, die "
        "Website oder die App können daher einen anderen Betrag verlangen.",
        "en": "The amount is updated automatically and may change because of reliefs, credit "
        "notes, late-payment charges, penalties, interest or notification costs: the "
        "counter, website or app "
        "you use may therefore ask for a different amount.",
    },
    "where": {"it": "DOVE PAGARE?", "de": "WO ZAHLEN?", "en": "WHERE TO PAY?"},
    "where_online": {
        "it": "PAGA SUL SITO O CON LE APP del tuo Ente Creditore, della tua Banca o degli altri "
        "canali di pagamento. Potrai pagare con carte, conto corrente, CBILL.",
        "de": "ZAHLEN SIE ONLINE ODER PER APP Ihrer Gläubigerkörperschaft, Ihrer Bank oder "
        "anderer Zahlungskanäle: mit Karte, Kontoabbuchung oder CBILL.",
        "en": "PAY ONLINE OR WITH THE APPS of your creditor entity, your bank or the other "
        "payment channels: by card, bank account or CBILL.",
    },
    "where_local": {
        "it": "PAGA SUL TERRITORIO in Banca, in Ricevitoria, dal Tabaccaio, al Bancomat, al "
        "Supermercato e, con il bollettino postale, negli Uffici Postali. Potrai pagare "
        "in contanti, con carte o conto corrente.",
        "de": "ZAHLEN SIE VOR ORT in der Bank, in Annahmestellen, im Tabakladen, am "
        "Geldautomaten, im Supermarkt und mit dem Posterlagschein im Postamt: bar, mit "
        "Karte oder vom Konto.",
        "en": "PAY IN PERSON at banks, lottery outlets, tobacconists, cash machines, "
        "supermarkets and, with the postal slip, at post offices: in cash, by card or "
        "from your account.",
    },
    "use_slip": {
        "it": "Utilizza la porzione di avviso relativa al canale di pagamento che preferisci.",
        "de": "Verwenden Sie den Abschnitt für den gewünschten Zahlungskanal.",
        "en": "Use the part of the notice for the payment channel you prefer.",
    },
    "bank_slip": {
        "it": "BANCHE E ALTRI CANALI",
        "de": "BANKEN UND ANDERE KANÄLE",
        "en": "BANKS AND OTHER CHANNELS",
    },
    "bank_note": {
        "it": "Qui accanto trovi il codice QR e il codice interbancario CBILL per "
        "pagare attraverso il circuito bancario e gli altri canali abilitati.",
        "de": "Daneben finden Sie den QR-Code und den CBILL-Code für die Zahlung "
        "über Banken und andere zugelassene Kanäle.",
        "en": "Next to this are the QR code and the CBILL code to pay through banks "
        "and the other enabled channels.",
    },
    "postal_slip": {
        "it": "BOLLETTINO POSTALE PA",
        "de": "POSTERLAGSCHEIN PA",
        "en": "POSTAL PAYMENT SLIP PA",
    },
    "postal_note": {
        "it": "Bollettino Postale pagabile in tutti gli Uffici Postali e sui canali "
        "fisici o digitali abilitati di Poste Italiane e dell'Ente Creditore.",
        "de": "Zahlbar in allen Postämtern und über die Kanäle von Poste Italiane "
        "und der Gläubigerkörperschaft.",
        "en": "Payable at every post office and through the channels of Poste "
        "Italiane and of the creditor entity.",
    },
    "recipient": {"it": "Destinatario", "de": "Empfänger", "en": "Recipient"},
    "euro": {"it": "Euro", "de": "Euro", "en": "Euro"},
    "object": {"it": "Oggetto del pagamento", "de": "Zahlungsgrund", "en": "Payment subject"},
    "cbill": {"it": "Codice CBILL", "de": "CBILL-Code", "en": "CBILL code"},
    "notice_code": {"it": "Codice Avviso", "de": "Mitteilungskode", "en": "Notice code"},
    "ec_code": {
        "it": "Cod. Fiscale Ente Creditore",
        "de": "Steuernr. Gläubiger",
        "en": "Creditor tax code",
    },
    "account": {"it": "sul C/C n.", "de": "auf K/K Nr.", "en": "to account no."},
    "holder": {"it": "Intestato a", "de": "Lautend auf", "en": "Account holder"},
    "type": {"it": "Tipo", "de": "Typ", "en": "Type"},
}


def text(key: str, variant: str, **values: object) -> tuple[str, ...]:
    """``key`` in each language of ``variant``, Italian first."""
    entry = TEXTS[key]
    return tuple(entry[lang].format(**values) for lang in languages(variant))


def languages(variant: str) -> tuple[str, ...]:
    try:
        return VARIANTS[variant]
    except KeyError:
        raise ValueError(
            f"unknown notice language {variant!r}; use one of {', '.join(VARIANTS)}"
        ) from None


def format_amount(amount: Decimal) -> str:
    """Italian style: ``1.234,56``."""
    whole, cents = f"{amount:.2f}".split(".")
    return f"{int(whole):,}".replace(",", ".") + "," + cents


def format_date(day: dt.date) -> str:
    return day.strftime("%d/%m/%Y")
