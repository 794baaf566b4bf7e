using Google.Protobuf;
using Google.Rpc;
using Grpc.Core;

namespace Muse.Hosting.Security;

/// <summary>
/// Keeps a status within what every peer's header limit accepts: the detail (<c>grpc-message</c>) at most
/// <see cref="BoundedText.MaxStatusDetail"/> characters, the rich status (<c>grpc-status-details-bin</c>) with its
/// message and field-violation descriptions cut the same way, and no other trailer over 1 KiB.
/// </summary>
public static class BoundedStatus
{
    private const int MaxTrailerBytes = 1024;
    private const string DetailsTrailer = "grpc-status-details-bin";

    /// <summary>A bounded copy of <paramref name="exception"/>, or null when it is already within bounds.</summary>
    public static RpcException? Bound(RpcException exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        var detail = exception.Status.Detail ?? "";
        var fits = detail.Length <= BoundedText.MaxStatusDetail
            && exception.Trailers.All(t => t.IsBinary ? t.ValueBytes.Length <= (t.Key == DetailsTrailer ? 4 * MaxTrailerBytes : MaxTrailerBytes) : t.Value.Length <= MaxTrailerBytes);
        if (fits)
        {
            return null;
        }

        var trailers = new Metadata();
        foreach (var entry in exception.Trailers)
        {
            if (entry.Key == DetailsTrailer)
            {
                trailers.Add(DetailsTrailer, BoundDetails(entry.ValueBytes));
            }
            else if (entry.IsBinary ? entry.ValueBytes.Length <= MaxTrailerBytes : entry.Value.Length <= MaxTrailerBytes)
            {
                trailers.Add(entry);
            }
        }

        return new RpcException(new Grpc.Core.Status(exception.StatusCode, BoundedText.Truncate(detail)), trailers);
    }

    private static byte[] BoundDetails(byte[] bytes)
    {
        Google.Rpc.Status status;
        try
        {
            status = Google.Rpc.Status.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException)
        {
            return [];
        }

        var bounded = new Google.Rpc.Status { Code = status.Code, Message = BoundedText.Truncate(status.Message) };
        foreach (var detail in status.Details)
        {
            if (detail.TryUnpack<BadRequest>(out var badRequest))
            {
                foreach (var violation in badRequest.FieldViolations)
                {
                    violation.Field = BoundedText.Truncate(violation.Field, 128);
                    violation.Description = BoundedText.Truncate(violation.Description, 256);
                }

                bounded.Details.Add(Google.Protobuf.WellKnownTypes.Any.Pack(badRequest));
            }
            else if (detail.CalculateSize() <= MaxTrailerBytes)
            {
                bounded.Details.Add(detail);
            }
        }

        return bounded.ToByteArray();
    }
}
