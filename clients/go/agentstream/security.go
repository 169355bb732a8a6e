package agentstream

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// TLS says how Dial connects over TLS. CAFile is the PEM file of the CA that
// signed the server's certificate (empty: the system's roots); CertFile and
// KeyFile, when set, are the client certificate a server with mTLS requires.
type TLS struct {
	CAFile   string
	CertFile string
	KeyFile  string
	// ServerName overrides the host name checked in the server's certificate.
	ServerName string
}

// WithTLS returns the Dial option that connects over TLS with these settings.
// The files are read now; a missing or unreadable one is an error.
func WithTLS(settings TLS) (grpc.DialOption, error) {
	config := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: settings.ServerName}
	if settings.CAFile != "" {
		pem, err := os.ReadFile(settings.CAFile)
		if err != nil {
			return nil, fmt.Errorf("agentstream: TLS CA: %w", err)
		}
		config.RootCAs = x509.NewCertPool()
		if !config.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("agentstream: TLS CA: %s holds no PEM certificate", settings.CAFile)
		}
	}
	if settings.CertFile != "" || settings.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(settings.CertFile, settings.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("agentstream: TLS client certificate: %w", err)
		}
		config.Certificates = []tls.Certificate{cert}
	}
	return grpc.WithTransportCredentials(credentials.NewTLS(config)), nil
}

// WithToken returns the Dial option that sends "authorization: Bearer <token>"
// with every call. A token the server refuses fails calls with
// codes.Unauthenticated: status.Code(err) tells, for runs as for other calls.
func WithToken(token string) grpc.DialOption {
	return grpc.WithPerRPCCredentials(bearerToken(token))
}

type bearerToken string

func (t bearerToken) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(t)}, nil
}

// RequireTransportSecurity is false so that a token also works in plaintext
// with a server on localhost; anywhere else, use WithTLS too.
func (bearerToken) RequireTransportSecurity() bool { return false }
