using Grpc.Core;
using Muse.Protos.V1;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;

namespace Muse.EndToEnd.Tests;

/// <summary>Images, masks and requests for the Edit tests, all deterministic.</summary>
internal static class EditSamples
{
    public const string Prompt = "a large red circle on the left";

    /// <summary>The shared test scene (<see cref="Muse.Testing.TestScenes"/>).</summary>
    public static Image<Rgb24> Scene(int width, int height) => Muse.Testing.TestScenes.Scene(width, height);

    public static byte[] ScenePng(int width, int height, PngColorType colourType = PngColorType.Rgb, PngBitDepth bitDepth = PngBitDepth.Bit8) =>
        Muse.Testing.TestScenes.ScenePng(width, height, colourType, bitDepth);

    public static byte[] SceneJpeg(int width, int height) => Muse.Testing.TestScenes.SceneJpeg(width, height);

    /// <summary>A black mask with a white rectangle [x0, x1) × [y0, y1): white = regenerate.</summary>
    public static byte[] MaskPng(int width, int height, int x0, int y0, int x1, int y1)
    {
        using var mask = new Image<Rgb24>(width, height, new Rgb24(0, 0, 0));
        for (var y = y0; y < y1; y++)
        {
            for (var x = x0; x < x1; x++)
            {
                mask[x, y] = new Rgb24(255, 255, 255);
            }
        }

        using var stream = new MemoryStream();
        mask.SaveAsPng(stream);
        return stream.ToArray();
    }

    /// <summary>The image resized as the orchestrator resizes (bicubic).</summary>
    public static Image<Rgb24> Resized(byte[] png, int width, int height)
    {
        var image = Image.Load<Rgb24>(png);
        image.Mutate(c => c.Resize(width, height, KnownResamplers.Bicubic));
        return image;
    }

    public static EditRequest Inpaint(byte[] image, byte[] mask, ulong seed) => Steps(new EditRequest
    {
        Image = Google.Protobuf.ByteString.CopyFrom(image),
        Prompt = Prompt,
        Seed = seed,
        Inpaint = new InpaintEdit { Mask = Google.Protobuf.ByteString.CopyFrom(mask) },
    });

    public static EditRequest Outpaint(byte[] image, int left, int right, int top, int bottom, ulong seed) => Steps(new EditRequest
    {
        Image = Google.Protobuf.ByteString.CopyFrom(image),
        Prompt = Prompt,
        Seed = seed,
        Outpaint = new OutpaintEdit { Left = left, Right = right, Top = top, Bottom = bottom },
    });

    public static EditRequest MaskFree(byte[] image, int iterations, ulong seed) => Steps(new EditRequest
    {
        Image = Google.Protobuf.ByteString.CopyFrom(image),
        Prompt = "a small blue square at the bottom",
        Seed = seed,
        MaskFree = new MaskFreeEdit { Iterations = iterations },
    });

    /// <summary>Runs Edit to the end and returns every event in order.</summary>
    public static async Task<List<GenerateEvent>> EditAsync(this ClusterFixture fixture, EditRequest request)
    {
        using var call = fixture.Client.Edit(request);
        var events = new List<GenerateEvent>();
        await foreach (var e in call.ResponseStream.ReadAllAsync())
        {
            events.Add(e);
        }

        return events;
    }

    /// <summary>Largest difference of any channel between two images over the pixels where <paramref name="where"/> holds.</summary>
    public static int MaxDifference(Image<Rgb24> a, Image<Rgb24> b, Func<int, int, bool> where)
    {
        var max = 0;
        for (var y = 0; y < a.Height; y++)
        {
            for (var x = 0; x < a.Width; x++)
            {
                if (!where(x, y))
                {
                    continue;
                }

                var (p, q) = (a[x, y], b[x, y]);
                max = Math.Max(max, Math.Max(Math.Abs(p.R - q.R), Math.Max(Math.Abs(p.G - q.G), Math.Abs(p.B - q.B))));
            }
        }

        return max;
    }

    // Few steps: the tests check the editing contract, not picture quality (the shipped models are random).
    private static EditRequest Steps(EditRequest request)
    {
        request.Decoding = new DecodingOptions { BaseSteps = 2, SrSteps = 2 };
        return request;
    }
}
