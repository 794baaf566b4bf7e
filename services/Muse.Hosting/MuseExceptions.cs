using Grpc.Core;

namespace Muse.Hosting;

/// <summary>
/// A failure whose gRPC status is known where it is thrown. The error-mapping interceptor turns it into that
/// status with <see cref="Exception.Message"/> as the detail, so the message must be fit for a client to read.
/// </summary>
public abstract class MuseException : Exception
{
    /// <summary>Creates the exception.</summary>
    protected MuseException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }

    /// <summary>The status the client receives.</summary>
    public abstract StatusCode StatusCode { get; }
}

/// <summary>A request exceeds a configured limit (bytes, pixels, batch): <see cref="StatusCode.ResourceExhausted"/>.</summary>
public sealed class ResourceExhaustedException : MuseException
{
    /// <summary>Creates the exception with a message that names the limit and the value seen.</summary>
    public ResourceExhaustedException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }

    /// <inheritdoc/>
    public override StatusCode StatusCode => StatusCode.ResourceExhausted;
}

/// <summary>
/// The request is well-formed but the system is not in a state to serve it (e.g. a model pairing that cannot
/// work): <see cref="StatusCode.FailedPrecondition"/>.
/// </summary>
public sealed class FailedPreconditionException : MuseException
{
    /// <summary>Creates the exception.</summary>
    public FailedPreconditionException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }

    /// <inheritdoc/>
    public override StatusCode StatusCode => StatusCode.FailedPrecondition;
}

/// <summary>A named model (or other entity) is not loaded here: <see cref="StatusCode.NotFound"/>.</summary>
public sealed class ModelNotFoundException : MuseException
{
    /// <summary>Creates the exception.</summary>
    public ModelNotFoundException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }

    /// <inheritdoc/>
    public override StatusCode StatusCode => StatusCode.NotFound;
}
