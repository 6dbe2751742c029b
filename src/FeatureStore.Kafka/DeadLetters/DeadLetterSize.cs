using System.Globalization;
using System.Text;
using Confluent.Kafka;

namespace FeatureStore.Kafka.DeadLetters;

/// <summary>
/// Keeps a dead letter within what its producer and broker accept. A source topic may hold records larger
/// than the dead-letter producer's <c>message.max.bytes</c> (1 000 000 bytes by default) or the dead-letter
/// topic's own limit; such a record, sent unchanged, would be refused, and a job that cannot dead-letter an
/// event cannot move past it. So an oversized dead letter keeps only the first <see cref="KeptBytes"/> bytes
/// of its payload (and of its key, and of a header, e.g. a detail quoting the payload), and says so in headers: <see cref="PayloadBytesHeader"/> (and
/// <see cref="KeyBytesHeader"/>) carry the original sizes.
/// </summary>
public static class DeadLetterSize
{
    /// <summary>Header carrying the original payload's size in bytes, present when the payload was cut.</summary>
    public const string PayloadBytesHeader = "fs-payload-bytes";

    /// <summary>Header carrying the original key's size in bytes, present when the key was cut.</summary>
    public const string KeyBytesHeader = "fs-key-bytes";

    /// <summary>Bytes of an oversized payload (or key) kept in its dead letter: enough to tell what it was.</summary>
    public const int KeptBytes = 4096;

    /// <summary>librdkafka's default <c>message.max.bytes</c>.</summary>
    public const int DefaultMaxRecordBytes = 1_000_000;

    // Record and batch framing besides key, value and headers (a record batch header is 61 bytes, a record's
    // own varints a few dozen): what is left of the limit once they are counted.
    private const int FramingBytes = 1024;

    /// <summary>The largest record a producer built from <paramref name="config"/> sends: its <c>message.max.bytes</c>.</summary>
    public static int MaxRecordBytes(ClientConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var text = config.Get("message.max.bytes");
        return text is not null && int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var bytes) && bytes > 0
            ? bytes : DefaultMaxRecordBytes;
    }

    /// <summary>
    /// <paramref name="message"/> itself when it fits in <paramref name="maxRecordBytes"/>, else a copy with its
    /// payload and key cut (<see cref="Cut"/>).
    /// </summary>
    public static Message<byte[]?, byte[]?> Fit(Message<byte[]?, byte[]?> message, int maxRecordBytes)
    {
        ArgumentNullException.ThrowIfNull(message);
        return Size(message) + FramingBytes <= maxRecordBytes ? message : Cut(message);
    }

    /// <summary>Whether <see cref="Cut"/> makes <paramref name="message"/> smaller (it was not cut already).</summary>
    public static bool CanCut(Message<byte[]?, byte[]?> message)
    {
        ArgumentNullException.ThrowIfNull(message);
        return message.Value is { Length: > KeptBytes } || message.Key is { Length: > KeptBytes }
            || (message.Headers ?? []).Any(h => h.GetValueBytes() is { Length: > KeptBytes });
    }

    /// <summary>
    /// A copy of <paramref name="message"/> whose payload, key and header values keep at most their first
    /// <see cref="KeptBytes"/> bytes, with the original sizes of the payload and key, when cut, in headers.
    /// </summary>
    public static Message<byte[]?, byte[]?> Cut(Message<byte[]?, byte[]?> message)
    {
        ArgumentNullException.ThrowIfNull(message);
        var headers = new Headers();
        foreach (var header in message.Headers ?? [])
        {
            headers.Add(header.Key, Prefix(header.GetValueBytes()));
        }

        if (message.Value is { Length: > KeptBytes } value)
        {
            headers.Add(PayloadBytesHeader, Encoding.UTF8.GetBytes(value.Length.ToString(CultureInfo.InvariantCulture)));
        }

        if (message.Key is { Length: > KeptBytes } key)
        {
            headers.Add(KeyBytesHeader, Encoding.UTF8.GetBytes(key.Length.ToString(CultureInfo.InvariantCulture)));
        }

        return new Message<byte[]?, byte[]?> { Key = Prefix(message.Key), Value = Prefix(message.Value), Headers = headers };
    }

    /// <summary>Whether <paramref name="code"/> says a record was refused for its size (by the client or the broker).</summary>
    public static bool IsTooLarge(ErrorCode code) =>
        code is ErrorCode.MsgSizeTooLarge or ErrorCode.RecordListTooLarge;

    private static byte[]? Prefix(byte[]? bytes) => bytes is { Length: > KeptBytes } ? bytes[..KeptBytes] : bytes;

    private static long Size(Message<byte[]?, byte[]?> message)
    {
        long size = (message.Key?.Length ?? 0) + (message.Value?.Length ?? 0);
        foreach (var header in message.Headers ?? [])
        {
            size += Encoding.UTF8.GetByteCount(header.Key) + (header.GetValueBytes()?.Length ?? 0) + 8;
        }

        return size;
    }
}
