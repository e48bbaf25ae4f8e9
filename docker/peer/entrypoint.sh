#!/bin/sh
# peer-entrypoint: what a test peer container runs.
#   phone     a baresip phone: registers PHONE_USER (password PHONE_PASSWORD) at PHONE_DOMAIN
#             through PHONE_REGISTRAR (host[:port]; PHONE_DOMAIN defaults to its host), sends a
#             PHONE_TONE Hz sine (default 1000) as its microphone, answers calls when
#             PHONE_ANSWER=auto (default manual), records every call under /peer/rec
#             (*-dec.wav: what it heard) and takes commands on ctrl_tcp, port 4444.
#             PHONE_STANDBY (host[:port]): a second account, the same user through that
#             registrar, as a real phone's second proxy: its standby registration on the backup
#             node, which serves the user while the home node is down.
#   carrier   Kamailio with test/peers/kamailio/kamailio.cfg: a registrar (digest, password
#             CARRIER_PASSWORD, default "secret") for the PSTN's phones, relaying every other
#             call to the PBX at CARRIER_PBX (host[:port]); with CARRIER_BACKUP (host[:port])
#             a call the PBX does not answer within 3 s, or refuses with 408, 500 or 503, is
#             tried there next, as a carrier with a second route to a customer.
#   anything else runs as is (sipp, sox, sh ...).
# Containers learn their address only when they start, so it is looked up here.
set -eu

own_address() {
  hostname -I | awk '{print $1}'
}

# The address of a host name, waiting up to a minute for it to appear (compose engines start
# services in dependency order but do not wait for them).
resolve() {
  i=0
  while :; do
    a=$(getent ahostsv4 "$1" | awk '{print $1; exit}')
    [ -n "$a" ] && { echo "$a"; return 0; }
    i=$((i + 1))
    [ $i -ge 120 ] && { echo "peer-entrypoint: $1 does not resolve" >&2; return 1; }
    sleep 0.5
  done
}

need() {
  eval "v=\${$1:-}"
  [ -n "$v" ] || { echo "peer-entrypoint: $1 is required for $role" >&2; exit 2; }
}

role=${1:-phone}
[ $# -gt 0 ] && shift
case "$role" in
  phone)
    need PHONE_USER; need PHONE_PASSWORD; need PHONE_REGISTRAR
    address=$(own_address)
    domain=${PHONE_DOMAIN:-${PHONE_REGISTRAR%%:*}}
    mkdir -p /peer/rec
    sox -n -r 8000 -c 1 -b 16 -e signed /peer/tone.wav synth 300 sine "${PHONE_TONE:-1000}" vol 0.5
    # The same settings as test/helpers/baresip.ts: no sound card, a WAV file as microphone,
    # every call recorded, controlled over ctrl_tcp (here on the container's address).
    cat > /peer/config <<CONF
poll_method		epoll
sip_listen		$address:5060
call_local_timeout	120
call_max_calls		4
audio_path		/usr/share/baresip
audio_player		alsa,null
audio_source		aufile,/peer/tone.wav
audio_alert		alsa,null
ausrc_srate		8000
auplay_srate		8000
ausrc_channels		1
auplay_channels		1
audio_level		no
ausrc_format		s16
auplay_format		s16
auenc_format		s16
audec_format		s16
audio_buffer		20-160
rtp_ports		20000-20999
rtcp_mux		no
jitter_buffer_delay	1-10
module_path		/usr/lib/baresip/modules
module			g711.so
module			sndfile.so
module			alsa.so
module			aufile.so
module_tmp		uuid.so
module_tmp		account.so
module_app		contact.so
module_app		debug_cmd.so
module_app		menu.so
module_app		ctrl_tcp.so
ctrl_tcp_listen		0.0.0.0:4444
net_interface		$address
statmode_default	off
snd_path		/peer/rec
CONF
    account() {
      echo "<sip:$PHONE_USER@$domain>;auth_pass=$PHONE_PASSWORD;outbound=\"sip:$1\";regint=600;answermode=${PHONE_ANSWER:-manual};audio_codecs=PCMU"
    }
    # baresip gives each account a contact of its own: a call through either registrar reaches
    # the account it came through; the first account is the one that dials
    account "$PHONE_REGISTRAR" > /peer/accounts
    [ -z "${PHONE_STANDBY:-}" ] || account "$PHONE_STANDBY" >> /peer/accounts
    : > /peer/contacts
    echo "peer-entrypoint: phone $PHONE_USER@$domain via $PHONE_REGISTRAR${PHONE_STANDBY:+ (standby via $PHONE_STANDBY)} on $address" >&2
    exec baresip -f /peer </dev/null
    ;;
  carrier)
    need CARRIER_PBX
    address=$(own_address)
    host=${CARRIER_PBX%%:*}
    port=${CARRIER_PBX#"$host"}
    pbx=$(resolve "$host")
    set -- -A "PBX_URI=\"sip:$pbx$port\""
    if [ -n "${CARRIER_BACKUP:-}" ]; then
      bhost=${CARRIER_BACKUP%%:*}
      bport=${CARRIER_BACKUP#"$bhost"}
      backup=$(resolve "$bhost")
      set -- "$@" -A "BACKUP_URI=\"sip:$backup$bport\""
    fi
    echo "peer-entrypoint: carrier on $address relaying to $CARRIER_PBX ($pbx$port)${CARRIER_BACKUP:+, then to $CARRIER_BACKUP ($backup$bport)}" >&2
    # its own name as an alias, so the PBX's keepalive OPTIONS (sip:carrier) is answered here
    exec kamailio -f /etc/pbx-peer/kamailio.cfg -DD -E --alias="$(hostname)" -A "LISTEN=udp:$address:5060" \
      "$@" -A "AUTH_PASS=\"${CARRIER_PASSWORD:-secret}\""
    ;;
  *)
    exec "$role" "$@"
    ;;
esac
