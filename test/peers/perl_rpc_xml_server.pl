#!/usr/bin/perl
# Perl's RPC::XML::Server (Debian: librpc-xml-perl), an XML-RPC server
# written to the specification and nothing else, that records every call.
#
#   perl_rpc_xml_server.pl METHOD...
#
# Listens on 127.0.0.1, a free port; prints "listening PORT" once ready, then
# one JSON line per request, stamped with this server's own clock (Unix
# seconds, microsecond resolution):
#   {"time": ..., "method": ..., "params": [...]}            a call it decoded
#   {"time": ..., "fault": {"faultCode": N, "faultString": ...}}   its answer, when it answered a fault
# Params keep their XML-RPC types in JSON: int and double as numbers,
# string as strings, struct as objects, array as arrays, boolean as true/false.
# Each METHOD named on the command line answers true; any other is a fault.
use strict;
use warnings;

use JSON::PP ();
use RPC::XML ();
use RPC::XML::Server ();
use Scalar::Util qw(blessed);
use Time::HiRes ();

$| = 1;
my $json = JSON::PP->new->canonical->utf8;

sub record {
    my (%fields) = @_;
    print $json->encode({time => Time::HiRes::time(), %fields}), "\n";
}

# An RPC::XML value object as plain JSON data, its type kept.
sub plain {
    my ($value) = @_;
    return $value unless blessed $value;
    my $type = $value->type;
    if ($type eq 'struct') {
        my $members = $value->value(1);
        return {map { ($_ => plain($members->{$_})) } keys %{$members}};
    }
    return [map { plain($_) } @{$value->value(1)}] if $type eq 'array';
    return $value->value ? JSON::PP::true : JSON::PP::false if $type eq 'boolean';
    return 0 + $value->value if $type eq 'int' || $type eq 'i4' || $type eq 'i8' || $type eq 'double';
    return q{} . $value->value;
}

package Recorder {
    use parent -norequire, 'RPC::XML::Server';

    # Every call it decoded, before dispatch.
    sub dispatch {
        my ($self, $request) = @_;
        if (Scalar::Util::blessed($request) && $request->isa('RPC::XML::request')) {
            main::record(method => $request->name, params => [map { main::plain($_) } @{$request->args}]);
        }
        return $self->SUPER::dispatch($request);
    }

    # Every fault the server itself answers: a request it could not parse, an unknown method.
    sub server_fault {
        my ($self, @args) = @_;
        my $fault = $self->SUPER::server_fault(@args);
        main::record(fault => {faultCode => 0 + $fault->code, faultString => q{} . $fault->string});
        return $fault;
    }
}

my $server = Recorder->new(host => '127.0.0.1', port => 0, no_default => 1);
die "$server\n" unless ref $server;
for my $method (@ARGV) {
    $server->add_method({type => 'function', name => $method, signature => [], code => sub { RPC::XML::boolean->new(1) }});
}
print 'listening ', $server->port, "\n";
$server->server_loop(signal => ['INT', 'TERM']);
