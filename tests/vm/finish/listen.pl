#!/usr/bin/perl
# A daemon that only listens, for the finish step of the VM test (issue 19):
#
#   listen.pl NAME PROTO ADDRESS:PORT...
#
# NAME becomes the process name ss shows; PROTO is tcp or udp; an address
# is 127.0.0.1, [::1] or [::] (the wildcard, dual-stack: IPV6_V6ONLY off,
# like pveproxy's *:8006). An IPv6 address that is gone (IPv6 off) is
# skipped with a warning, as mail daemons and resolvers do; no socket at all
# is an error. perl-base only: Socket is in every Debian system.
use strict;
use warnings;
use Socket qw(:DEFAULT inet_pton pack_sockaddr_in6 AF_INET6 IPPROTO_IPV6 IPV6_V6ONLY);

my ($name, $proto, @addresses) = @ARGV;
die "usage: listen.pl NAME tcp|udp ADDRESS:PORT...\n" unless $name && $proto && @addresses;
my $type = $proto eq 'tcp' ? SOCK_STREAM : SOCK_DGRAM;
my @open;
for my $spec (@addresses) {
	my ($host, $port) = $spec =~ /^\[?([^\]]+)\]?:(\d+)$/ or die "bad address $spec\n";
	my $v6 = $host =~ /:/;
	my $family = $v6 ? AF_INET6 : AF_INET;
	socket(my $sock, $family, $type, 0) or die "socket: $!\n";
	setsockopt($sock, SOL_SOCKET, SO_REUSEADDR, 1) or die "SO_REUSEADDR: $!\n";
	setsockopt($sock, IPPROTO_IPV6, IPV6_V6ONLY, 0) or die "IPV6_V6ONLY: $!\n" if $host eq '::';
	my $addr = $v6 ? pack_sockaddr_in6($port, inet_pton(AF_INET6, $host))
		: pack_sockaddr_in($port, inet_aton($host));
	unless (bind($sock, $addr)) {
		die "bind $spec: $!\n" unless $v6;
		warn "$name: skipping $spec: $!\n";
		next;
	}
	listen($sock, 16) or die "listen $spec: $!\n" if $type == SOCK_STREAM;
	push @open, $sock;
}
die "$name: no address to listen on\n" unless @open;
$0 = $name;
sleep;
