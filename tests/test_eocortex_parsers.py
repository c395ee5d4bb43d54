"""Eocortex body parsers: both formats, real-world quirks, and garbage that must stay ParseError."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from probes.eocortex import (
    ChannelState,
    Configex,
    ParseError,
    parse_channel_states,
    parse_configex,
    parse_time,
)

CAM1 = "706c4691-3d90-41e3-8789-76eb9810648f"
CAM2 = "0b0d6b2c-6f0a-4c52-9f57-3a8f3c1c0a11"
SRV = "5a0e0d55-1111-4c3b-8a2e-6a1d2b3c4d5e"

STATES_XML = f"""<?xml version="1.0" encoding="utf-8"?>
<ArrayOfChannelState xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <ChannelState>
    <Id>{CAM1}</Id>
    <IsRecordingOn>true</IsRecordingOn>
    <StreamsStates>
      <Stream><Type>MainVideo</Type><State>Active</State></Stream>
    </StreamsStates>
  </ChannelState>
  <ChannelState>
    <Id>{CAM2}</Id>
    <IsRecordingOn>false</IsRecordingOn>
    <StreamsStates>
      <Stream><Type>AlternativeVideo</Type><State>Active</State></Stream>
      <Stream><Type>MainVideo</Type><State>NoConnection</State></Stream>
    </StreamsStates>
  </ChannelState>
</ArrayOfChannelState>""".encode()

STATES_JSON = json.dumps(
    [
        {
            "Id": CAM1,
            "IsRecordingOn": True,
            "StreamsStates": [{"Type": "MainVideo", "State": "Active"}],
        },
        {
            "Id": CAM2,
            "IsRecordingOn": False,
            "StreamsStates": [{"Type": "MainVideo", "State": "NoConnection"}],
        },
    ],
    indent="\t",
).encode()

EXPECTED_STATES = [
    ChannelState(CAM1, True, "Active"),
    ChannelState(CAM2, False, "NoConnection"),
]

CONFIGEX_XML = f"""<?xml version="1.0" encoding="utf-8"?>
<Configuration Id="{SRV}" SenderId="{SRV}" Revision="72" Timestamp="2023-06-07T06:30:15.3279409Z"
               XMLProtocolVersion="2" ServerVersion="4.1.23" ProductType="Ultra">
  <Servers><ServerInfo Id="{SRV}" Name="CREST-01" Url="10.0.0.5:8080"/></Servers>
  <Channels>
    <ChannelInfo Id="{CAM1}" Name="Cam 1" Description="" AttachedToServer="{SRV}"
      IsDisabled="false" IsSoundOn="false" IsArchivingEnabled="true"
      AllowedRealtime="false" AllowedArchive="false" IsPtzOn="false">
      <Streams><StreamInfo StreamType="Main" StreamFormat="H264" RotationMode="None"/></Streams>
    </ChannelInfo>
    <ChannelInfo Id="{CAM2}" Name="Cam &amp; 2" AttachedToServer="{SRV}" IsDisabled="true"
      IsArchivingEnabled="false" AllowedRealtime="true" AllowedArchive="false"/>
  </Channels>
  <RootSecurityObject Id="{SRV}"/>
  <UserGroup Id="g" Name="nls" CanConfigure="false" CanPTZ="True" IsAllForbidden="false"/>
</Configuration>""".encode()

CONFIGEX_JSON = json.dumps(
    {
        "Id": SRV,
        "SenderId": SRV,
        "RevNum": 72,
        "XmlProtocolVersion": 2,
        "ServerVersion": "4.1.23",
        "Servers": [{"Id": SRV, "Name": "CREST-01", "PrimaryIp": "10.0.0.5", "PrimaryPort": 8080}],
        "Channels": [
            {
                "Id": CAM1,
                "Name": "Cam 1",
                "AttachedToServer": SRV,
                "IsDisabled": False,
                "IsArchivingEnabled": True,
                "AllowedRealtime": False,
                "AllowedArchive": False,
                "Streams": [{"StreamType": "Main"}],
            },
            {
                "Id": CAM2,
                "Name": "Cam & 2",
                "AttachedToServer": SRV,
                "IsDisabled": True,
                "IsArchivingEnabled": False,
                "AllowedRealtime": True,
                "AllowedArchive": False,
            },
        ],
        "RootSecObject": {"Id": SRV},
        "UserGroup": {"CanConfigure": False, "CanPTZ": True, "IsAllForbidden": False},
    }
).encode()

BOM = b"\xef\xbb\xbf"
QUIRKS = [
    pytest.param(lambda b: b, id="plain"),
    pytest.param(lambda b: BOM + b, id="bom"),
    pytest.param(lambda b: b"Status follows:\r\n" + b, id="leading-text"),
    pytest.param(lambda b: BOM + b'ok [v4] {x} "q" <!-- -->\r\n\t' + b, id="bom-and-brackets"),
    pytest.param(lambda b: b + b"\r\n", id="trailing-newline"),
]


def check_configex(cfg: Configex) -> None:
    assert cfg.server_name == "CREST-01"
    assert cfg.version == "4.1.23"
    assert cfg.sender_id == SRV
    first, second = cfg.channels
    assert (first.id, first.name, first.disabled, first.archiving_enabled) == (
        CAM1,
        "Cam 1",
        False,
        True,
    )
    assert (first.allowed_realtime, first.allowed_archive) == (False, False)
    assert (second.name, second.disabled, second.allowed_realtime) == ("Cam & 2", True, True)
    assert cfg.user_group == {"CanConfigure": False, "CanPTZ": True}


@pytest.mark.parametrize("quirk", QUIRKS)
@pytest.mark.parametrize("body", [STATES_XML, STATES_JSON], ids=["xml", "json"])
def test_channel_states(body: bytes, quirk) -> None:
    assert parse_channel_states(quirk(body)) == EXPECTED_STATES


@pytest.mark.parametrize("quirk", QUIRKS)
@pytest.mark.parametrize("body", [CONFIGEX_XML, CONFIGEX_JSON], ids=["xml", "json"])
def test_configex(body: bytes, quirk) -> None:
    check_configex(parse_configex(quirk(body)))


@pytest.mark.parametrize("quirk", QUIRKS)
@pytest.mark.parametrize(
    "body",
    [
        b'<?xml version="1.0" encoding="utf-8"?><string>22.09.2018 3:33:06</string>',
        b'"22.09.2018 3:33:06"',
        b'<string xmlns="http://schemas.microsoft.com/2003/10/Serialization/">'
        b"22.09.2018 3:33:06</string>",
    ],
    ids=["xml", "json", "xml-namespace"],
)
def test_time(body: bytes, quirk) -> None:
    assert parse_time(quirk(body)) == "22.09.2018 3:33:06"


def test_empty_channel_list_is_valid() -> None:
    assert parse_channel_states(b"[]") == []
    assert parse_channel_states(b'<?xml version="1.0"?><ArrayOfChannelState/>') == []


def test_states_without_main_video_are_unknown() -> None:
    body = json.dumps([{"Id": CAM1, "IsRecordingOn": "True", "StreamsStates": []}]).encode()
    assert parse_channel_states(body) == [ChannelState(CAM1, True, "Unknown")]


def test_states_wrapped_in_an_object() -> None:
    wrapped = b'{"ChannelStates": ' + STATES_JSON + b"}"
    assert parse_channel_states(wrapped) == EXPECTED_STATES


def test_multi_server_configex_keeps_the_senders_channels() -> None:
    other = "99999999-1111-4c3b-8a2e-6a1d2b3c4d5e"
    doc = json.loads(CONFIGEX_JSON)
    doc["SenderId"] = other
    doc["Servers"].append({"Id": other, "Name": "CREST-02"})
    doc["Channels"].append({"Id": "c3", "Name": "Other 1", "AttachedToServer": other})
    cfg = parse_configex(json.dumps(doc).encode())
    assert cfg.server_name == "CREST-02"
    assert [c.id for c in cfg.channels] == ["c3"]


def test_json_configex_without_user_group_has_no_flags() -> None:
    doc = json.loads(CONFIGEX_JSON)
    del doc["UserGroup"]
    assert parse_configex(json.dumps(doc).encode()).user_group == {}


@pytest.mark.parametrize(
    ("parser", "body", "reason"),
    [
        (parse_time, b"", "empty answer"),
        (parse_time, b"<html><body>Login</body></html>", "not a <string>"),
        (parse_time, b'"hello"', "no date and time"),
        (parse_configex, b"Service Unavailable", "neither XML nor JSON"),
        (parse_configex, b'{"Error": "x"}', "not a configex document"),
        (parse_configex, b"<ArrayOfChannelState/>", "is not <Configuration>"),
        (parse_configex, b'{"Channels": [{"Name": "no id"}]}', "channel Id missing"),
        (parse_configex, b'{"Channels": [{"Id": "a", "IsDisabled": "maybe"}]}', "IsDisabled"),
        (parse_channel_states, b"<Configuration/>", "is not <ArrayOfChannelState>"),
        (parse_channel_states, b'[{"Id": "a", "IsRecordingOn": 7}]', "IsRecordingOn"),
        (parse_channel_states, b'[{"IsRecordingOn": true}]', "Id missing"),
        (parse_channel_states, b"[1, 2]", "not an object"),
        (parse_channel_states, STATES_XML[:-30], "malformed XML"),
        (parse_channel_states, b"[" * 100_000, "malformed JSON"),
        (parse_configex, b'{"Channels": [}', "malformed JSON"),
    ],
)
def test_garbage_reasons(parser, body: bytes, reason: str) -> None:
    with pytest.raises(ParseError, match=reason):
        parser(body)


def test_xml_with_entities_is_refused() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;">]><string>&lol2;</string>'
    )
    with pytest.raises(ParseError):
        parse_time(bomb)


PARSERS = [parse_time, parse_configex, parse_channel_states]
NO_DOCUMENT_START = st.binary(max_size=400).map(lambda b: bytes(c for c in b if c not in b'<{["'))


@settings(max_examples=150, deadline=None)
@given(body=NO_DOCUMENT_START, parser=st.sampled_from(PARSERS))
def test_bytes_without_a_document_are_parse_errors(body: bytes, parser) -> None:
    with pytest.raises(ParseError):
        parser(body)


def _mutate(data: st.DataObject, doc: bytes) -> bytes:
    cut = data.draw(st.integers(0, len(doc)))
    noise = data.draw(st.binary(max_size=8))
    return doc[:cut] + noise + doc[cut + data.draw(st.integers(0, 8)) :]


@settings(max_examples=300, deadline=None)
@given(data=st.data(), parser=st.sampled_from(PARSERS))
def test_mutated_documents_parse_or_raise_parse_error(data: st.DataObject, parser) -> None:
    doc = data.draw(
        st.sampled_from([STATES_XML, STATES_JSON, CONFIGEX_XML, CONFIGEX_JSON, b'"1.1.2020 1:00"'])
    )
    body = _mutate(data, doc)
    try:
        result = parser(body)
    except ParseError:
        return
    assert isinstance(result, str | list | Configex)


@settings(max_examples=200, deadline=None)
@given(
    body=st.one_of(
        st.binary(max_size=300),
        st.text(alphabet='<>{}[]":,/?! =abcIdtrue\ufeff', max_size=120).map(str.encode),
    ),
    parser=st.sampled_from(PARSERS),
)
def test_arbitrary_bytes_never_raise_anything_else(body: bytes, parser) -> None:
    with contextlib.suppress(ParseError):
        parser(body)
