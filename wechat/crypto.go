package wechat

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Signature returns hex(sha1(join(sort(parts)))): the push signature over
// token, timestamp and nonce, or the safe-mode msg_signature when the
// Encrypt value is one of the parts.
func Signature(parts ...string) string {
	p := append([]string(nil), parts...)
	sort.Strings(p)
	sum := sha1.Sum([]byte(strings.Join(p, "")))
	return hex.EncodeToString(sum[:])
}

// VerifySignature checks a push's signature over token, timestamp and nonce
// (GET verification and plaintext POST).
func VerifySignature(token, signature, timestamp, nonce string) bool {
	return equalHex(Signature(token, timestamp, nonce), signature)
}

// VerifyMsgSignature checks a safe-mode push's msg_signature over token,
// timestamp, nonce and the Encrypt value.
func VerifyMsgSignature(token, msgSignature, timestamp, nonce, encrypt string) bool {
	return equalHex(Signature(token, timestamp, nonce, encrypt), msgSignature)
}

func equalHex(want, got string) bool {
	return len(got) == len(want) && subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(got))) == 1
}

// Errors of Crypter.Decrypt.
var (
	ErrBadAESKey     = errors.New("wechat: EncodingAESKey must be 43 characters of base64")
	ErrBadCiphertext = errors.New("wechat: Encrypt is not valid ciphertext")
	ErrBadPadding    = errors.New("wechat: bad PKCS#7 padding")
	ErrAppIDMismatch = errors.New("wechat: the encrypted message is for another AppID")
)

const pkcs7Block = 32 // WeChat pads to 32 bytes, not AES's 16

// Crypter encrypts and decrypts safe-mode push messages of one mini program:
// AES-256-CBC with key = base64(EncodingAESKey+"="), IV = key[:16], PKCS#7
// padding to 32-byte blocks, plaintext = 16 random bytes ‖ 4-byte
// big-endian length ‖ message ‖ AppID.
type Crypter struct {
	appID string
	key   []byte
	block cipher.Block
}

// NewCrypter returns a Crypter for the app's EncodingAESKey (43 chars).
func NewCrypter(encodingAESKey, appID string) (*Crypter, error) {
	if len(encodingAESKey) != 43 {
		return nil, ErrBadAESKey
	}
	key, err := base64.StdEncoding.DecodeString(encodingAESKey + "=")
	if err != nil || len(key) != 32 {
		return nil, ErrBadAESKey
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return &Crypter{appID: appID, key: key, block: block}, nil
}

// Decrypt decrypts an Encrypt value and returns the message, after checking
// that the trailing AppID is the Crypter's.
func (c *Crypter) Decrypt(encrypt string) ([]byte, error) {
	msg, appID, err := c.decrypt(encrypt)
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare([]byte(appID), []byte(c.appID)) != 1 {
		return nil, fmt.Errorf("%w: %q", ErrAppIDMismatch, appID)
	}
	return msg, nil
}

func (c *Crypter) decrypt(encrypt string) (msg []byte, appID string, err error) {
	ct, err := base64.StdEncoding.DecodeString(strings.TrimSpace(encrypt))
	if err != nil || len(ct) == 0 || len(ct)%aes.BlockSize != 0 {
		return nil, "", ErrBadCiphertext
	}
	pt := make([]byte, len(ct))
	cipher.NewCBCDecrypter(c.block, c.key[:aes.BlockSize]).CryptBlocks(pt, ct)
	pad := int(pt[len(pt)-1])
	if pad < 1 || pad > pkcs7Block || pad > len(pt) {
		return nil, "", ErrBadPadding
	}
	for _, b := range pt[len(pt)-pad:] {
		if int(b) != pad {
			return nil, "", ErrBadPadding
		}
	}
	pt = pt[:len(pt)-pad]
	if len(pt) < 20 {
		return nil, "", ErrBadCiphertext
	}
	n := binary.BigEndian.Uint32(pt[16:20])
	if uint64(n) > uint64(len(pt)-20) {
		return nil, "", ErrBadCiphertext
	}
	return pt[20 : 20+n], string(pt[20+n:]), nil
}

// Encrypt encrypts msg for the Crypter's AppID with 16 fresh random bytes.
func (c *Crypter) Encrypt(msg []byte) (string, error) {
	var random [16]byte
	if _, err := rand.Read(random[:]); err != nil {
		return "", err
	}
	return c.EncryptWithRandom(random[:], msg)
}

// EncryptWithRandom encrypts msg with the given 16 random bytes (for test
// vectors; use Encrypt otherwise).
func (c *Crypter) EncryptWithRandom(random, msg []byte) (string, error) {
	if len(random) != 16 {
		return "", errors.New("wechat: random must be 16 bytes")
	}
	n := 16 + 4 + len(msg) + len(c.appID)
	pad := pkcs7Block - n%pkcs7Block
	pt := make([]byte, 0, n+pad)
	pt = append(pt, random...)
	pt = binary.BigEndian.AppendUint32(pt, uint32(len(msg)))
	pt = append(pt, msg...)
	pt = append(pt, c.appID...)
	for range pad {
		pt = append(pt, byte(pad))
	}
	cipher.NewCBCEncrypter(c.block, c.key[:aes.BlockSize]).CryptBlocks(pt, pt)
	return base64.StdEncoding.EncodeToString(pt), nil
}
