using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Text;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Google.Rpc;
using Grpc.Core;

namespace Muse.Hosting;

/// <summary>
/// Request validation for service methods. Each check takes the field by its C# expression
/// (<c>[CallerArgumentExpression]</c>), so the error names the field without a hand-typed string:
/// <c>request.Texts</c> is reported as the proto field path <c>texts</c>. Failures throw an
/// <see cref="RpcException"/> carrying a rich <c>google.rpc.Status</c> with a <see cref="BadRequest"/> field
/// violation that clients in any language can read (<c>grpc-status-details-bin</c>).
/// </summary>
public static class MuseValidation
{
    /// <summary>Requires a non-empty string; returns it.</summary>
    public static string NotEmpty(string? value, [CallerArgumentExpression(nameof(value))] string? field = null)
    {
        if (string.IsNullOrEmpty(value))
        {
            ThrowInvalidArgument(field, "must not be empty.");
        }

        return value;
    }

    /// <summary>Requires non-empty bytes; returns them.</summary>
    public static ByteString NotEmpty(ByteString? value, [CallerArgumentExpression(nameof(value))] string? field = null)
    {
        if (value is null || value.IsEmpty)
        {
            ThrowInvalidArgument(field, "must not be empty.");
        }

        return value;
    }

    /// <summary>Requires a non-null message field (proto3 sub-messages may be absent); returns it.</summary>
    public static T NotNull<T>([NotNull] T? value, [CallerArgumentExpression(nameof(value))] string? field = null)
        where T : class
    {
        if (value is null)
        {
            ThrowInvalidArgument(field, "is required.");
        }

        return value;
    }

    /// <summary>Requires a collection with at least one element; returns it.</summary>
    public static TCollection NotEmpty<TCollection>(
        TCollection? value, [CallerArgumentExpression(nameof(value))] string? field = null)
        where TCollection : System.Collections.ICollection
    {
        if (value is null || value.Count == 0)
        {
            ThrowInvalidArgument(field, "must not be empty.");
        }

        return value;
    }

    /// <summary>Requires <paramref name="min"/> ≤ element count ≤ <paramref name="max"/>; returns the collection.</summary>
    public static TCollection CountInRange<TCollection>(
        TCollection? value, int min, int max, [CallerArgumentExpression(nameof(value))] string? field = null)
        where TCollection : System.Collections.ICollection
    {
        var count = value?.Count ?? 0;
        if (count < min || count > max)
        {
            ThrowInvalidArgument(field, $"must hold {min} to {max} elements; got {count}.");
        }

        return value!;
    }

    /// <summary>Requires <paramref name="min"/> ≤ <paramref name="value"/> ≤ <paramref name="max"/>; returns the value.</summary>
    public static T InRange<T>(T value, T min, T max, [CallerArgumentExpression(nameof(value))] string? field = null)
        where T : IComparable<T>
    {
        if (value.CompareTo(min) < 0 || value.CompareTo(max) > 0)
        {
            ThrowInvalidArgument(field, $"must be in [{min}, {max}]; got {value}.");
        }

        return value;
    }

    /// <summary>Requires a string of at most <paramref name="maxLength"/> UTF-16 characters; returns it.</summary>
    public static string MaxLength(string value, int maxLength, [CallerArgumentExpression(nameof(value))] string? field = null)
    {
        if (value.Length > maxLength)
        {
            ThrowInvalidArgument(field, $"must be at most {maxLength} characters; got {value.Length}.");
        }

        return value;
    }

    /// <summary>Requires a finite number (no NaN or infinity); returns it.</summary>
    public static double Finite(double value, [CallerArgumentExpression(nameof(value))] string? field = null)
    {
        if (!double.IsFinite(value))
        {
            ThrowInvalidArgument(field, $"must be a finite number; got {value}.");
        }

        return value;
    }

    /// <summary>Requires a finite number (no NaN or infinity); returns it.</summary>
    public static float Finite(float value, [CallerArgumentExpression(nameof(value))] string? field = null)
    {
        if (!float.IsFinite(value))
        {
            ThrowInvalidArgument(field, $"must be a finite number; got {value}.");
        }

        return value;
    }

    /// <summary>
    /// Requires <paramref name="condition"/>; otherwise reports <paramref name="message"/> against
    /// <paramref name="field"/> (pass the field expression, e.g. <c>nameof(request.Tokens)</c> or
    /// <c>"request.Tokens.Shape"</c>; it is normalised like the other checks).
    /// </summary>
    public static void Require([DoesNotReturnIf(false)] bool condition, string message, string field)
    {
        if (!condition)
        {
            ThrowInvalidArgument(field, message);
        }
    }

    /// <summary>Throws <see cref="StatusCode.InvalidArgument"/> with a <see cref="BadRequest"/> violation of <paramref name="field"/>.</summary>
    [DoesNotReturn]
    public static void ThrowInvalidArgument(string? field, string description)
    {
        var path = FieldPath(field);
        var status = new Google.Rpc.Status
        {
            Code = (int)Code.InvalidArgument,
            Message = path.Length == 0 ? description : $"{path} {description}",
            Details =
            {
                Any.Pack(new BadRequest
                {
                    FieldViolations = { new BadRequest.Types.FieldViolation { Field = path, Description = description } },
                }),
            },
        };
        throw status.ToRpcException();
    }

    /// <summary>Throws <see cref="StatusCode.ResourceExhausted"/>: a request exceeds a configured limit.</summary>
    [DoesNotReturn]
    public static void ThrowResourceExhausted(string message) => throw new ResourceExhaustedException(message);

    /// <summary>Throws <see cref="StatusCode.FailedPrecondition"/>: the request cannot be served in this state.</summary>
    [DoesNotReturn]
    public static void ThrowFailedPrecondition(string message) => throw new FailedPreconditionException(message);

    /// <summary>
    /// The proto field path of a C# expression: a leading <c>request.</c> is dropped and PascalCase members become
    /// snake_case (<c>request.Tokens.Shape</c> → <c>tokens.shape</c>, <c>request.Texts[i]</c> → <c>texts[i]</c>).
    /// </summary>
    public static string FieldPath(string? expression)
    {
        if (string.IsNullOrWhiteSpace(expression))
        {
            return "";
        }

        var text = expression.Trim();
        foreach (var prefix in new[] { "request.", "Request." })
        {
            if (text.StartsWith(prefix, StringComparison.Ordinal))
            {
                text = text[prefix.Length..];
                break;
            }
        }

        var path = new StringBuilder(text.Length + 8);
        var inIndex = false;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            inIndex = c == '[' || (inIndex && c != ']');
            if (!inIndex && char.IsUpper(c))
            {
                if (i > 0 && char.IsLetterOrDigit(text[i - 1]))
                {
                    path.Append('_');
                }

                path.Append(char.ToLowerInvariant(c));
            }
            else
            {
                path.Append(c);
            }
        }

        return path.ToString();
    }
}
