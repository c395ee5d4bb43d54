"""The monthly availability report of one installer as one self-contained HTML page.

Daily availability bars and an outage timeline as inline SVG, the customer and server tables,
the outage list and the accounting rules with their version, in the installer's language
(nl/fr/en). No scripts, fonts or images from elsewhere: the page is mailed as it is.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from console.reports.accounting import RULES_VERSION, month_tables
from console.reports.export import html_document
from console.reports.period import Month
from console.reports.scope import Scope, Terms, terms_lookup

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Availability report",
        "month": "Month",
        "generated": "Generated",
        "rules_version": "Accounting rules",
        "summary": "Summary",
        "daily": "Availability per day",
        "timeline": "Outages",
        "customers": "Customers",
        "servers": "Servers",
        "outage_list": "Outage list",
        "rules": "How availability is counted",
        "none": "No outages this month.",
        "counted": "counted",
        "excluded": "excused",
        "unknown": "unknown (not charged)",
        "target": "target",
        "met": "met",
        "missed": "missed",
        "times": "Times are UTC.",
    },
    "nl": {
        "title": "Beschikbaarheidsrapport",
        "month": "Maand",
        "generated": "Aangemaakt",
        "rules_version": "Rekenregels",
        "summary": "Samenvatting",
        "daily": "Beschikbaarheid per dag",
        "timeline": "Storingen",
        "customers": "Klanten",
        "servers": "Servers",
        "outage_list": "Storingslijst",
        "rules": "Hoe beschikbaarheid berekend wordt",
        "none": "Geen storingen deze maand.",
        "counted": "geteld",
        "excluded": "uitgesloten",
        "unknown": "onbekend (niet aangerekend)",
        "target": "doel",
        "met": "gehaald",
        "missed": "niet gehaald",
        "times": "Tijden in UTC.",
    },
    "fr": {
        "title": "Rapport de disponibilité",
        "month": "Mois",
        "generated": "Généré",
        "rules_version": "Règles de calcul",
        "summary": "Résumé",
        "daily": "Disponibilité par jour",
        "timeline": "Pannes",
        "customers": "Clients",
        "servers": "Serveurs",
        "outage_list": "Liste des pannes",
        "rules": "Comment la disponibilité est calculée",
        "none": "Aucune panne ce mois-ci.",
        "counted": "comptée",
        "excluded": "excusée",
        "unknown": "inconnue (non imputée)",
        "target": "objectif",
        "met": "atteint",
        "missed": "manqué",
        "times": "Heures en UTC.",
    },
}
COLUMNS: dict[str, dict[str, str]] = {
    "nl": {
        "customer": "klant",
        "server": "server",
        "period_minutes": "periode (min)",
        "downtime_minutes": "storing (min)",
        "confirmed_downtime_minutes": "bevestigd (min)",
        "excluded_minutes": "uitgesloten (min)",
        "unknown_minutes": "onbekend (min)",
        "availability_pct": "beschikbaarheid %",
        "target_pct": "doel %",
        "met": "gehaald",
        "outages": "storingen",
        "longest_outage_minutes": "langste (min)",
        "resolution_minutes": "meetinterval (min)",
        "check": "controle",
        "start": "begin",
        "end": "einde",
        "minutes": "minuten",
        "status": "status",
        "why": "waarom",
    },
    "fr": {
        "customer": "client",
        "server": "serveur",
        "period_minutes": "période (min)",
        "downtime_minutes": "indisponibilité (min)",
        "confirmed_downtime_minutes": "confirmée (min)",
        "excluded_minutes": "excusée (min)",
        "unknown_minutes": "inconnue (min)",
        "availability_pct": "disponibilité %",
        "target_pct": "objectif %",
        "met": "atteint",
        "outages": "pannes",
        "longest_outage_minutes": "plus longue (min)",
        "resolution_minutes": "intervalle (min)",
        "check": "contrôle",
        "start": "début",
        "end": "fin",
        "minutes": "minutes",
        "status": "statut",
        "why": "pourquoi",
    },
}
RULES: dict[str, str] = {
    "nl": """\
Rekenregels voor beschikbaarheid, versie 2026.1
1. Periode: de kalendermaand in de tijdzone van het contract (een maart in Europe/Amsterdam telt
   44.580 minuten).
2. In tijd gewogen: de toestand van een meting geldt tot de volgende meting van dezelfde
   controle, maar hoogstens twee meetintervallen. Tijd daarna, voor de eerste en na de laatste
   meting, en tijd van 'unknown'-metingen is onbekende tijd en wordt nooit aangerekend.
3. Storingstijd telt vanaf de eerste mislukte controle; welke controles tellen staat in het
   contract (standaard server_online voor een server, camera voor een camera).
4. Een storing is een reeks mislukte metingen die geen geslaagde meting onderbreekt. Bevestigde
   storingstijd telt vanaf de N-de mislukte meting (N = failures_before_alert).
5. Uitgesloten: mislukte tijd binnen onderhoud dat het contract volgt (tijdig aangekondigd en
   binnen de toegelaten uren) of binnen een niet-ingetrokken uitsluiting.
6. Uitgesloten en onbekende tijd blijven in de noemer: beschikbaarheid = (periode - storing) /
   periode, tenzij het contract uitgesloten tijd uit de noemer haalt.
7. Een klant of installateur telt de minuten van zijn servers op.
8. Meetresolutie: een mislukte controle weegt een meetinterval.
""",
    "fr": """\
Règles de calcul de la disponibilité, version 2026.1
1. Période : le mois civil dans le fuseau du contrat (un mois de mars en Europe/Amsterdam compte
   44 580 minutes).
2. Pondéré dans le temps : l'état d'une mesure vaut jusqu'à la mesure suivante du même
   contrôle, au plus deux intervalles. Le temps au-delà, avant la première et après la dernière
   mesure, et le temps des mesures « unknown » est du temps inconnu, jamais imputé au client.
3. L'indisponibilité compte dès le premier contrôle en échec ; les contrôles qui comptent sont
   fixés par le contrat (server_online pour un serveur, camera pour une caméra par défaut).
4. Une panne est une suite de mesures en échec qu'aucune mesure réussie n'interrompt.
   L'indisponibilité confirmée compte dès la N-ième mesure en échec (N = failures_before_alert).
5. Excusé : le temps en échec pendant une maintenance conforme au contrat (annoncée à temps et
   dans les heures permises) ou pendant une exclusion non révoquée.
6. Le temps excusé et inconnu reste au dénominateur : disponibilité = (période - indisponibilité)
   / période, sauf si le contrat retire le temps excusé du dénominateur.
7. Un client ou un installateur additionne les minutes de ses serveurs.
8. Résolution : un contrôle en échec pèse un intervalle de mesure.
""",
}
_COLORS = {"counted": "#c0392b", "excluded": "#7f8c8d", "unknown": "#e6a700"}


def installer_report(
    con: Any,
    terms: Terms,
    scope: Scope,
    month: Month | str,
    *,
    installer: str,
    installer_name: str | None = None,
    language: str = "en",
    now: datetime | None = None,
) -> str:
    """The page for one installer and month (scope is narrowed to the installer)."""
    from console.reports.accounting import RULES_TEXT

    month = month if isinstance(month, Month) else Month.parse(month)
    scope = scope.only(installer=installer)
    words = LABELS.get(language, LABELS["en"])
    columns = COLUMNS.get(language, {})
    terms_of = terms_lookup(terms)
    first = scope.subjects[0]
    zone = first.zone(terms_of(first.customer))
    start, end = month.bounds(zone)
    tables = month_tables(con, terms, scope, month)
    total = tables.installers.to_pylist()[0]
    customers, servers, listed = tables.customers, tables.servers, tables.outages
    days = tables.daily.to_pylist()
    name = installer_name or installer
    title = f"{words['title']} {name} {month}"
    verdict = (
        f'<span class="ok">{words["met"]}</span>'
        if total["met"]
        else f'<span class="miss">{words["missed"]}</span>'
    )
    summary = (
        f"<p><b>{total['availability_pct']:.4f}%</b> ({words['target']} "
        f"{total['target_pct']:g}%: {verdict}); {total['outages']} · "
        f"{total['downtime_minutes']:g} min · {total['unknown_minutes']:g} min "
        f"{html.escape(words['unknown'])}</p>"
    )
    outage_columns = ["server", "check", "subject", "start", "end", "minutes", "status", "why"]
    body = "".join(
        [
            f"<h2>{words['summary']}</h2>{summary}",
            f"<h2>{words['daily']}</h2>{daily_bars(days, total['target_pct'])}",
            f"<h2>{words['timeline']}</h2>",
            timeline(listed.to_pylist(), start, end, words),
            f"<h2>{words['customers']}</h2>{_table(customers, columns)}",
            f"<h2>{words['servers']}</h2>{_table(servers, columns)}",
            f"<h2>{words['outage_list']}</h2>",
            _table(listed.select(outage_columns), columns)
            if listed.num_rows
            else f"<p>{words['none']}</p>",
            f"<h2>{words['rules']}</h2><pre>{html.escape(RULES.get(language, RULES_TEXT))}</pre>",
            f'<p class="meta">{words["times"]}</p>',
        ]
    )
    meta = {
        words["month"]: f"{month} ({zone})",
        words["rules_version"]: RULES_VERSION,
        words["generated"]: (now or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC"),
    }
    return html_document(title, body, meta)


def daily_bars(days: list[dict[str, Any]], target: float) -> str:
    """One bar per day, its height the day's availability between a floor and 100%."""
    if not days:
        return ""
    width, height, gap = 22, 120, 4
    lowest = min(d["availability_pct"] for d in days)
    floor = min(99.0, max(0.0, float(int(lowest)) - 1 if lowest < 99.0 else 99.0))
    scale = height / (100.0 - floor)
    bars = []
    for n, d in enumerate(days):
        pct = d["availability_pct"]
        h = max(1.0, (pct - floor) * scale)
        x = n * (width + gap) + 40
        color = "#1e7b34" if pct >= target else "#c0392b"
        label = f"{d['day']:%Y-%m-%d}: {pct:.4f}%, {d['downtime_minutes']:g} min"
        bars.append(
            f'<rect x="{x}" y="{10 + height - h:.1f}" width="{width}" height="{h:.1f}" '
            f'fill="{color}"><title>{html.escape(label)}</title></rect>'
            f'<text x="{x + width / 2}" y="{height + 24}" font-size="9" '
            f'text-anchor="middle">{d["day"].day}</text>'
        )
    total_width = 40 + len(days) * (width + gap)
    target_y = 10 + height - (target - floor) * scale
    axis = (
        f'<text x="0" y="14" font-size="9">100%</text>'
        f'<text x="0" y="{10 + height}" font-size="9">{floor:g}%</text>'
        f'<line x1="40" x2="{total_width}" y1="{target_y:.1f}" y2="{target_y:.1f}" '
        'stroke="#1d2733" stroke-dasharray="3 3" stroke-width="0.8"/>'
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{total_width}" '
        f'height="{height + 30}" role="img">{axis}{"".join(bars)}</svg>'
    )


def timeline(
    rows: list[dict[str, Any]], start: datetime, end: datetime, words: dict[str, str]
) -> str:
    """One lane per server with outages across the month: counted, excused, unknown."""
    if not rows:
        return f"<p>{words['none']}</p>"
    lanes = sorted({r["server"] for r in rows})[:60]
    left, width, lane_h = 140, 760, 16
    span = (end - start).total_seconds()
    shapes = []
    for n, server in enumerate(lanes):
        y = 20 + n * lane_h
        shapes.append(
            f'<text x="0" y="{y + 11}" font-size="10">{html.escape(server[:22])}</text>'
            f'<line x1="{left}" x2="{left + width}" y1="{y + 7}" y2="{y + 7}" '
            'stroke="#cfd6de"/>'
        )
        for r in rows:
            if r["server"] != server:
                continue
            a = max((r["start"] - start).total_seconds(), 0) / span
            b = min((r["end"] - start).total_seconds(), span) / span
            w = max((b - a) * width, 1.5)
            label = (
                f"{r['check']} {r['subject']} {r['start']:%Y-%m-%d %H:%M}-{r['end']:%H:%M} "
                f"UTC, {r['minutes']:g} min: {r['why']}"
            )
            shapes.append(
                f'<rect x="{left + a * width:.1f}" y="{y + 2}" width="{w:.1f}" height="10" '
                f'fill="{_COLORS[r["status"]]}"><title>{html.escape(label)}</title></rect>'
            )
    legend = "".join(
        f'<rect x="{left + n * 150}" y="2" width="10" height="10" fill="{color}"/>'
        f'<text x="{left + n * 150 + 14}" y="11" font-size="10">{words[status]}</text>'
        for n, (status, color) in enumerate(_COLORS.items())
    )
    days = int(span // 86400) + 1
    xs = [left + width * d * 86400 / span for d in range(days)]
    ticks = "".join(
        f'<line x1="{x:.1f}" x2="{x:.1f}" y1="16" y2="{20 + len(lanes) * lane_h}" '
        'stroke="#eef2f6"/>'
        for x in xs
    )
    total_h = 30 + len(lanes) * lane_h
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 10}" '
        f'height="{total_h}" role="img">{ticks}{legend}{"".join(shapes)}</svg>'
    )


def _table(table: pa.Table, columns: dict[str, str]) -> str:
    from console.reports.export import html_table

    renamed = table.rename_columns([columns.get(c, c) for c in table.column_names])
    return html_table(renamed)
